package supervise

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/rig"
)

// The heartbeat's defaults (see Supervisor): a ping every 250 ms, each
// with 500 ms to answer, and a plugin that misses 2 in a row is hung. A
// plugin that stops answering is thus killed between 1 s and about 1.25 s
// after its last answer (Heartbeat + Misses × PingTimeout at most after
// it stopped), well under 2 s.
const (
	DefaultHeartbeat   = 250 * time.Millisecond
	DefaultPingTimeout = 500 * time.Millisecond
	DefaultMisses      = 2
)

// On the virtual clock no animal waits on the display and the machine is
// often shared (tests, a laptop developing a protocol): a plugin that is
// merely starved of CPU must not be killed as hung there. The virtual
// clock's heartbeat therefore allows 3 s per ping and 3 misses (a silence
// of up to about 10 s); the real clock keeps the defaults above.
const (
	VirtualPingTimeout = 3 * time.Second
	VirtualMisses      = 3
)

// ForClock sets the heartbeat's timing for a session on the given clock
// (only the fields still zero), see VirtualPingTimeout.
func (s *Supervisor) ForClock(c rig.Clock) *Supervisor {
	if c != rig.VirtualClock {
		return s
	}
	if s.PingTimeout == 0 {
		s.PingTimeout = VirtualPingTimeout
	}
	if s.Misses == 0 {
		s.Misses = VirtualMisses
	}
	return s
}

// DefaultDeadlines are the deadlines of the host's calls to its plugins,
// by "kind.Method" (see Supervisor.Deadlines and the package doc). A call
// that runs past its deadline declares its plugin hung, like a missed
// heartbeat. The calls absent here (stimulus.Present, the model's
// prediction stream, model.Adapt, model.Evaluate) have none: they last as
// long as their work does, and the heartbeat covers them.
var DefaultDeadlines = map[string]time.Duration{
	"stimulus.Configure":         time.Minute,
	"stimulus.Describe":          10 * time.Second,
	"stimulus.Render":            time.Minute,
	"acquisition.Configure":      time.Minute,
	"acquisition.Describe":       10 * time.Second,
	"acquisition.Start":          30 * time.Second,
	"acquisition.Observe":        30 * time.Second,
	"acquisition.Read":           time.Minute,
	"acquisition.Stop":           30 * time.Second,
	"acquisition.OptimalStimuli": time.Minute,
	"model.Configure":            5 * time.Minute,
	"model.Describe":             10 * time.Second,
	"model.Reset":                30 * time.Second,
	"model.Predict":              30 * time.Second,
}

// liveness is how a Plugins watches its processes' liveness.
type liveness struct {
	heartbeat, pingTimeout time.Duration // heartbeat <= 0: none
	misses                 int
	deadlines              map[string]time.Duration
	log                    *slog.Logger
}

// liveness returns s's settings with their defaults.
func (s *Supervisor) liveness(log *slog.Logger) liveness {
	lv := liveness{heartbeat: s.Heartbeat, pingTimeout: s.PingTimeout, misses: s.Misses, deadlines: s.Deadlines, log: log}
	if lv.heartbeat == 0 {
		lv.heartbeat = DefaultHeartbeat
	}
	if lv.pingTimeout <= 0 {
		lv.pingTimeout = DefaultPingTimeout
	}
	if lv.misses <= 0 {
		lv.misses = DefaultMisses
	}
	if lv.deadlines == nil {
		lv.deadlines = DefaultDeadlines
	}
	return lv
}

// deadlines returns the call deadlines of kind's client: a call that runs
// past its deadline declares the plugin hung.
func (p *Plugins) deadlines(kind rig.Kind) rig.Deadlines {
	calls := map[string]time.Duration{}
	for key, d := range p.lv.deadlines {
		if method, ok := strings.CutPrefix(key, string(kind)+"."); ok {
			calls[method] = d
		}
	}
	return rig.Deadlines{Calls: calls, Expired: func(method string, d time.Duration) {
		p.declareHung(kind, fmt.Sprintf("%s.%s gave no answer within %s", kind, method, d), d)
	}}
}

// startHeartbeat pings every process until stopHeartbeat.
func (p *Plugins) startHeartbeat() {
	if p.lv.heartbeat <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, kind := range rig.Kinds() {
		if proc := p.procs[kind]; proc != nil {
			wg.Go(func() { p.beat(ctx, kind, proc) })
		}
	}
	p.mu.Lock()
	p.stopBeat = func() { cancel(); wg.Wait() }
	p.mu.Unlock()
}

// abortSilent aborts proc when it does not answer a ping within the ping
// timeout: a stopped process would never answer Kill's request to shut
// down gracefully.
func (p *Plugins) abortSilent(proc Process) {
	if proc.Exited() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.lv.pingTimeout)
	defer cancel()
	if err := proc.Ping(ctx); err != nil && !proc.Exited() {
		p.lv.log.Warn("plugin does not answer; killing it at once", "kind", proc.Kind(), "path", proc.Path(), "pid", proc.Pid(), "err", err)
		proc.Abort()
	}
}

// stopHeartbeat ends the pings and waits for them (before the plugins are
// killed, which is no hang). It is safe to call more than once.
func (p *Plugins) stopHeartbeat() {
	p.mu.Lock()
	stop := p.stopBeat
	p.stopBeat = nil
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// beat pings proc every heartbeat until ctx ends, and declares it hung
// after misses pings in a row went unanswered. An exited process is left
// to Watch.
func (p *Plugins) beat(ctx context.Context, kind rig.Kind, proc Process) {
	t := time.NewTicker(p.lv.heartbeat)
	defer t.Stop()
	last, missed := time.Now(), 0 // the last answer; pings missed since
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, p.lv.pingTimeout)
		err := proc.Ping(pctx)
		cancel()
		switch {
		case ctx.Err() != nil || proc.Exited():
			return
		case err == nil:
			last, missed = time.Now(), 0
			continue
		}
		missed++
		p.lv.log.Debug("plugin missed a heartbeat", "kind", kind, "path", proc.Path(), "missed", missed, "err", err)
		if missed >= p.lv.misses {
			silent := time.Since(last)
			p.declareHung(kind, fmt.Sprintf("no answer for %.1fs", silent.Seconds()), silent)
			return
		}
	}
}

// declareHung reports the plugin of kind hung (the first time): it logs
// it, cancels every Watch context with a *session.PluginError saying so,
// and kills the process group at once, so that the crash path (Watch,
// Explain, Died, a restart) takes over. reason says what it did not
// answer, silent for how long.
func (p *Plugins) declareHung(kind rig.Kind, reason string, silent time.Duration) {
	proc := p.procs[kind]
	if proc == nil || proc.Exited() {
		return
	}
	err := &session.PluginError{Kind: kind, Err: fmt.Errorf("%s plugin %q hung: %s; killed it: %w", kind, proc.Path(), reason, rig.ErrUnavailable)}
	p.mu.Lock()
	if p.hung[kind] != nil {
		p.mu.Unlock()
		return
	}
	p.hung[kind] = err
	watches := make([]context.CancelCauseFunc, 0, len(p.watches))
	for _, c := range p.watches {
		watches = append(watches, c)
	}
	p.mu.Unlock()
	p.lv.log.Error("plugin hung; killing it", "kind", kind, "path", proc.Path(), "pid", proc.Pid(),
		"silent", silent.Round(time.Millisecond).String(), "reason", "hung: "+reason)
	for _, cancel := range watches {
		cancel(err)
	}
	proc.Abort()
}

// Hung returns the error that declared the plugin of kind hung (nil: it
// was not).
func (p *Plugins) Hung(kind rig.Kind) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.hung[kind]; err != nil {
		return err
	}
	return nil
}

// anyHung returns the first hung plugin's error, in the order of
// rig.Kinds (nil: none).
func (p *Plugins) anyHung() error {
	for _, kind := range rig.Kinds() {
		if err := p.Hung(kind); err != nil {
			return err
		}
	}
	return nil
}
