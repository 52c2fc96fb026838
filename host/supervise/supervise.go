package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/twinrig/twinrig/host/config"
	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/rig"
)

// Process is one running plugin. Its methods are safe for concurrent use.
type Process interface {
	// Kind is the plugin's kind, Path its binary.
	Kind() rig.Kind
	Path() string
	// Pid is the process id (0: not known, or not a process).
	Pid() int
	// SHA256 is the SHA-256 of the binary as it was started, in hex (""
	// when it runs no binary of its own).
	SHA256() string
	// Stimulus, Acquisition and Model return the plugin's client; nil for
	// the other kinds.
	Stimulus() rig.Stimulus
	Acquisition() rig.Acquisition
	Model() rig.Model
	// Exited reports whether the process has exited.
	Exited() bool
	// Ping asks the process whether it still answers, within ctx (the
	// heartbeat).
	Ping(ctx context.Context) error
	// Abort kills the process (its process group) at once, without asking
	// it first; Kill must still be called.
	Abort()
	// Kill ends the process (gracefully first) and waits for it to exit.
	// It is safe to call more than once.
	Kill()
}

var _ Process = (*rig.Process)(nil)

// Launcher starts one plugin: of kind, as pc says (binary, arguments,
// start timeout; not its settings, which Supervisor.Start hands over).
// Its errors name the kind and the binary; on error nothing it started is
// left running. It must be safe for concurrent use.
type Launcher interface {
	Launch(kind rig.Kind, pc config.PluginConfig) (Process, error)
}

// Binaries is the Launcher of plugin binaries (rig.Launch).
type Binaries struct {
	// LogLevel is the lowest plugin log level forwarded ("": info).
	LogLevel string
	// LogOutput receives the plugins' log lines (nil: os.Stderr).
	LogOutput io.Writer
}

// Launch starts pc.Path as a plugin of kind.
func (b Binaries) Launch(kind rig.Kind, pc config.PluginConfig) (Process, error) {
	p, err := rig.Launch(rig.LaunchConfig{
		Kind: kind, Path: pc.Path, Args: pc.Args, StartTimeout: pc.StartTimeout, LogLevel: b.LogLevel, LogOutput: b.LogOutput,
		SHA256: pc.SHA256, Insecure: pc.Insecure, Dir: pc.Dir,
	})
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return p, nil
}

// DefaultPoll is how often Plugins.Watch looks for an exited process.
const DefaultPoll = 100 * time.Millisecond

// Supervisor starts the plugins a rig config names.
type Supervisor struct {
	// Config names the plugins (binaries, arguments, settings) and is the
	// file errors about settings name.
	Config *config.Config
	// Launcher starts each plugin (nil: Binaries{}).
	Launcher Launcher
	// Log receives a debug line per plugin started (nil: slog.Default()).
	Log *slog.Logger
	// Poll is how often Watch looks for an exited process (0:
	// DefaultPoll).
	Poll time.Duration
	// Heartbeat is how often each plugin is pinged (0: DefaultHeartbeat;
	// < 0: never), PingTimeout how long each ping may take (0:
	// DefaultPingTimeout), and Misses how many pings in a row a plugin may
	// leave unanswered before it is declared hung (0: DefaultMisses).
	Heartbeat, PingTimeout time.Duration
	Misses                 int
	// Deadlines are the deadlines of the calls to the plugins, by
	// "kind.Method" such as "model.Describe" (nil: DefaultDeadlines; a
	// call absent or 0: none). A call past its deadline declares its
	// plugin hung.
	Deadlines map[string]time.Duration
}

// plugin returns the config of one kind.
func (s *Supervisor) plugin(kind rig.Kind) config.PluginConfig {
	switch kind {
	case rig.KindStimulus:
		return s.Config.Stimulus
	case rig.KindAcquisition:
		return s.Config.Acquisition
	}
	return s.Config.Model
}

// Start launches the three plugins concurrently, then hands each its
// settings. Every plugin that fails to launch is reported, and then every
// plugin that refuses its settings (each error a *session.PluginError,
// joined); on error the plugins that did start are killed.
func (s *Supervisor) Start(ctx context.Context) (*Plugins, error) {
	p, err := s.launch()
	p.startHeartbeat()
	if err == nil {
		err = s.configure(ctx, p)
	}
	if err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// launch starts the three plugins concurrently. On error it returns the
// ones that did start too.
func (s *Supervisor) launch() (*Plugins, error) {
	launcher, log := s.Launcher, s.Log
	if launcher == nil {
		launcher = Binaries{}
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Plugins{procs: map[rig.Kind]Process{}, poll: s.Poll, lv: s.liveness(log),
		hung: map[rig.Kind]*session.PluginError{}, watches: map[int]context.CancelCauseFunc{}}
	if p.poll <= 0 {
		p.poll = DefaultPoll
	}
	var mu sync.Mutex
	errs := map[rig.Kind]error{}
	var wg sync.WaitGroup
	for _, kind := range rig.Kinds() {
		pc := s.plugin(kind)
		wg.Go(func() {
			proc, err := launcher.Launch(kind, pc)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[kind] = &session.PluginError{Kind: kind, Err: err}
				return
			}
			p.procs[kind] = proc
			log.Debug("plugin started", "kind", kind, "path", pc.Path, "pid", proc.Pid(), "sha256", proc.SHA256())
		})
	}
	wg.Wait()
	var all []error
	for _, kind := range rig.Kinds() { // in a fixed order
		if err := errs[kind]; err != nil {
			all = append(all, err)
		}
	}
	return p, errors.Join(all...)
}

// configure hands each plugin its settings from the config and reports
// every plugin that refuses them.
func (s *Supervisor) configure(ctx context.Context, p *Plugins) error {
	sp := p.Session()
	steps := []struct {
		kind rig.Kind
		fn   func(context.Context, rig.ConfigureRequest) (rig.ConfigureResponse, error)
	}{
		{rig.KindStimulus, sp.Stimulus.Configure},
		{rig.KindAcquisition, sp.Acquisition.Configure},
		{rig.KindModel, sp.Model.Configure},
	}
	var errs []error
	for _, st := range steps {
		if _, err := st.fn(ctx, rig.ConfigureRequest{Settings: s.plugin(st.kind).Settings}); err != nil {
			errs = append(errs, &session.PluginError{Kind: st.kind, Err: fmt.Errorf("%s: plugins.%s.settings: %w", s.Config.File, st.kind, err)})
		}
	}
	return errors.Join(errs...)
}

// Plugins are the three running plugins of one start. Its methods are
// safe for concurrent use.
type Plugins struct {
	procs map[rig.Kind]Process
	poll  time.Duration
	lv    liveness

	mu       sync.Mutex
	hung     map[rig.Kind]*session.PluginError // the plugins declared hung
	watches  map[int]context.CancelCauseFunc   // of the Watch calls running
	nwatch   int
	stopBeat func() // ends the heartbeat (nil: none running)
}

// Session returns the plugins' clients, each call with its deadline (see
// Supervisor.Deadlines): a call that runs past it declares the plugin
// hung.
func (p *Plugins) Session() session.Plugins {
	var sp session.Plugins
	if proc := p.procs[rig.KindStimulus]; proc != nil {
		sp.Stimulus = p.deadlines(rig.KindStimulus).Stimulus(proc.Stimulus())
	}
	if proc := p.procs[rig.KindAcquisition]; proc != nil {
		sp.Acquisition = p.deadlines(rig.KindAcquisition).Acquisition(proc.Acquisition())
	}
	if proc := p.procs[rig.KindModel]; proc != nil {
		sp.Model = p.deadlines(rig.KindModel).Model(proc.Model())
	}
	return sp
}

// Launched returns the journal entries of this start's plugins, in the
// order of rig.Kinds; attempt is the start's Attempt.N.
func (p *Plugins) Launched(attempt int) []events.Launched {
	var ls []events.Launched
	for _, kind := range rig.Kinds() {
		proc := p.procs[kind]
		if proc == nil {
			continue
		}
		path := proc.Path()
		if abs, err := filepath.Abs(path); err == nil && proc.Pid() != 0 {
			path = abs
		}
		ls = append(ls, events.Launched{Plugin: string(kind), Path: path, SHA256: proc.SHA256(), Pid: proc.Pid(), Attempt: attempt})
	}
	return ls
}

// Process returns the process of one kind (nil: none).
func (p *Plugins) Process(kind rig.Kind) Process { return p.procs[kind] }

// Kill kills every plugin process. It is safe to call more than once.
func (p *Plugins) Kill() {
	if p == nil {
		return
	}
	p.stopHeartbeat()
	for _, kind := range rig.Kinds() {
		if proc := p.procs[kind]; proc != nil {
			p.abortSilent(proc)
			proc.Kill()
		}
	}
}

// Watch returns a context derived from ctx that is cancelled when a
// plugin process exits or is declared hung (by the heartbeat, or a call
// past its deadline), its cause a *session.PluginError naming the plugin,
// saying which, and wrapping rig.ErrUnavailable, and a function that ends
// the watch (and cancels the context); call it when done.
func (p *Plugins) Watch(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	p.mu.Lock()
	id := p.nwatch
	p.nwatch++
	p.watches[id] = cancel
	p.mu.Unlock()
	if err := p.anyHung(); err != nil {
		cancel(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(p.poll)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				for _, kind := range rig.Kinds() {
					if proc := p.procs[kind]; proc != nil && proc.Exited() {
						if err := p.Hung(kind); err != nil {
							cancel(err)
							return
						}
						cancel(&session.PluginError{Kind: kind, Err: fmt.Errorf("%s plugin %q exited unexpectedly: %w", kind, proc.Path(), rig.ErrUnavailable)})
						return
					}
				}
			}
		}
	}()
	return wctx, func() {
		p.mu.Lock()
		delete(p.watches, id)
		p.mu.Unlock()
		cancel(nil)
		<-done
	}
}

// Explain explains err, an error of a session run under ctx (a context
// of Watch), by a plugin process that died, when one did: the gRPC error
// it caused says less than its exit. It returns ctx's cause when a plugin
// exit or hang cancelled ctx, a *session.PluginError naming a plugin
// declared hung or an exited plugin when there is one, and err otherwise.
func (p *Plugins) Explain(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if hung := p.anyHung(); hung != nil {
		var pe *session.PluginError
		errors.As(hung, &pe)
		return &session.PluginError{Kind: pe.Kind, Err: fmt.Errorf("%w; the session stopped: %v", pe.Err, err)}
	}
	for _, kind := range rig.Kinds() {
		if proc := p.procs[kind]; proc != nil && proc.Exited() {
			return &session.PluginError{Kind: kind, Err: fmt.Errorf("%s plugin %q exited unexpectedly (%w); the session stopped: %v",
				kind, proc.Path(), rig.ErrUnavailable, err)}
		}
	}
	return err
}

// PluginOf names the plugin an error concerns ("" when none).
func PluginOf(err error) string {
	var pe *session.PluginError
	if errors.As(err, &pe) {
		return string(pe.Kind)
	}
	return ""
}

// Died reports whether err says that a plugin died (see Plugins.Explain
// and Watch): a restart may recover from it.
func Died(err error) bool {
	return errors.Is(err, rig.ErrUnavailable) && PluginOf(err) != ""
}
