package supervise

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twinrig/twinrig/host/config"
	"github.com/twinrig/twinrig/rig"
)

// InProcess is a Launcher for tests: instead of starting a binary it
// serves a plugin implementation inside this process over the real gRPC
// wire (rig.LoopbackStimulus and its kin), as a LoopbackProcess that can
// be made to die. It is safe for concurrent use.
type InProcess struct {
	// Stimulus, Acquisition and Model return a fresh implementation of
	// their kind for each launch (nil: launching that kind fails).
	Stimulus    func() rig.Stimulus
	Acquisition func() rig.Acquisition
	Model       func() rig.Model
	// Fail, when set, is asked before each launch: a non-nil error makes
	// the launch fail with it.
	Fail func(kind rig.Kind, pc config.PluginConfig) error

	mu       sync.Mutex
	launched []*LoopbackProcess
}

// Launch serves a fresh implementation of kind; pc.Path is only its name.
func (l *InProcess) Launch(kind rig.Kind, pc config.PluginConfig) (Process, error) {
	name := fmt.Sprintf("%s plugin %q", kind, pc.Path)
	if l.Fail != nil {
		if err := l.Fail(kind, pc); err != nil {
			return nil, fmt.Errorf("%s: failed to start: %w", name, err)
		}
	}
	p := &LoopbackProcess{kind: kind, path: pc.Path, stop: make(chan struct{})}
	var err error
	switch {
	case kind == rig.KindStimulus && l.Stimulus != nil:
		p.stimulus, p.close, err = rig.LoopbackStimulus(l.Stimulus())
	case kind == rig.KindAcquisition && l.Acquisition != nil:
		p.acquisition, p.close, err = rig.LoopbackAcquisition(l.Acquisition())
	case kind == rig.KindModel && l.Model != nil:
		p.model, p.close, err = rig.LoopbackModel(l.Model())
	default:
		return nil, fmt.Errorf("%s: no in-process implementation of that kind: %w", name, rig.ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l.mu.Lock()
	l.launched = append(l.launched, p)
	l.mu.Unlock()
	return p, nil
}

// Launched returns every process launched so far, in launch order.
func (l *InProcess) Launched() []*LoopbackProcess {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*LoopbackProcess(nil), l.launched...)
}

// Running returns the launched processes that have not exited.
func (l *InProcess) Running() []*LoopbackProcess {
	var out []*LoopbackProcess
	for _, p := range l.Launched() {
		if !p.Exited() {
			out = append(out, p)
		}
	}
	return out
}

// LoopbackProcess is an in-process plugin "process" (see InProcess): its
// client reaches the implementation over a loopback gRPC connection, and
// Die ends it as a crash would. Its methods are safe for concurrent use.
type LoopbackProcess struct {
	kind        rig.Kind
	path        string
	stimulus    rig.Stimulus
	acquisition rig.Acquisition
	model       rig.Model

	once    sync.Once
	close   func()
	exited  atomic.Bool
	killed  atomic.Bool
	aborted atomic.Bool
	hungMu  sync.Mutex
	hang    chan struct{} // closed when it answers again (nil: it answers)
	stop    chan struct{} // closed when it ends
}

var _ Process = (*LoopbackProcess)(nil)

// Kind returns the plugin's kind.
func (p *LoopbackProcess) Kind() rig.Kind { return p.kind }

// Path returns the name it was launched as.
func (p *LoopbackProcess) Path() string { return p.path }

// Pid returns 0: it is no process.
func (p *LoopbackProcess) Pid() int { return 0 }

// SHA256 returns "": it runs no binary.
func (p *LoopbackProcess) SHA256() string { return "" }

// Stimulus returns the stimulus client, or nil for another kind.
func (p *LoopbackProcess) Stimulus() rig.Stimulus { return p.stimulus }

// Acquisition returns the acquisition client, or nil for another kind.
func (p *LoopbackProcess) Acquisition() rig.Acquisition { return p.acquisition }

// Model returns the model client, or nil for another kind.
func (p *LoopbackProcess) Model() rig.Model { return p.model }

// Exited reports whether it died or was killed.
func (p *LoopbackProcess) Exited() bool { return p.exited.Load() }

// Killed reports whether Kill ended it.
func (p *LoopbackProcess) Killed() bool { return p.killed.Load() }

// Die ends it as a crash would: Exited turns true at once and the
// connection closes (in the background, so that a plugin's own method may
// call it); Killed stays false.
func (p *LoopbackProcess) Die() {
	p.exited.Store(true)
	go p.end()
}

// Kill ends it and waits for the connection to close. It is safe to call
// more than once.
func (p *LoopbackProcess) Kill() {
	if !p.exited.Swap(true) {
		p.killed.Store(true)
	}
	p.end()
}

// end closes the connection once; a second caller waits for the first.
func (p *LoopbackProcess) end() {
	p.once.Do(func() {
		close(p.stop)
		p.close()
	})
}

// Hang makes it stop answering, as a stopped (SIGSTOP) or deadlocked
// process would: Ping waits for its context to end until Unhang, Abort or
// Kill. The plugin's calls still run.
func (p *LoopbackProcess) Hang() {
	p.hungMu.Lock()
	defer p.hungMu.Unlock()
	if p.hang == nil {
		p.hang = make(chan struct{})
	}
}

// Unhang makes it answer again.
func (p *LoopbackProcess) Unhang() {
	p.hungMu.Lock()
	defer p.hungMu.Unlock()
	if p.hang != nil {
		close(p.hang)
		p.hang = nil
	}
}

// Ping answers at once, unless it hangs (see Hang) or has exited.
func (p *LoopbackProcess) Ping(ctx context.Context) error {
	p.hungMu.Lock()
	hang := p.hang
	p.hungMu.Unlock()
	if hang != nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("ping %s plugin %q: %w", p.kind, p.path, ctx.Err())
		case <-hang:
		case <-p.stop:
		}
	}
	if p.Exited() {
		return fmt.Errorf("ping %s plugin %q: it exited: %w", p.kind, p.path, rig.ErrUnavailable)
	}
	return nil
}

// Abort ends it as SIGKILL would: at once, as a crash (Killed stays
// false; Aborted turns true).
func (p *LoopbackProcess) Abort() {
	p.aborted.Store(true)
	p.exited.Store(true)
	p.end()
}

// Aborted reports whether Abort ended it.
func (p *LoopbackProcess) Aborted() bool { return p.aborted.Load() }
