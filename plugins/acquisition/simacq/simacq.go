package simacq

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/sim"
)

// Name is what Describe reports as AcquisitionInfo.Name.
const Name = "sim"

var _ rig.Acquisition = (*Acquisition)(nil)

// Acquisition is a simulated two-photon acquisition.
//
// Call order (rig.Acquisition's): Configure, Describe, Start, then Observe
// and Read in any interleaving, then Stop. Configure is optional (the
// defaults apply) and is refused during a session; Start during a session
// starts a new one; Stop outside a session does nothing. Observe and Read
// outside a session return errors wrapping rig.ErrState. All methods are
// safe for concurrent use; a Read waiting for the wall clock does not block
// Describe.
type Acquisition struct {
	log *slog.Logger

	mu       sync.Mutex
	cfg      sim.Config
	mouse    *sim.Mouse // built by Configure, or from the defaults by Start
	running  bool
	clock    rig.Clock
	epoch    time.Time
	sessions uint64 // sessions started so far
	late     int64  // late frames already reported
}

// New returns a simulated acquisition with the default settings, logging
// to slog.Default().
func New() *Acquisition {
	return &Acquisition{log: slog.Default(), cfg: sim.DefaultConfig()}
}

// WithLogger sets the logger and returns a.
func (a *Acquisition) WithLogger(l *slog.Logger) *Acquisition {
	a.log = l
	return a
}

// Configure decodes the settings (see the package documentation) and builds
// the mouse. Bad settings return an error wrapping rig.ErrInvalid that
// names every offending field; Configure during a session returns
// rig.ErrState.
func (a *Acquisition) Configure(_ context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	cfg, err := ParseSettings(req.Settings)
	if err != nil {
		return rig.ConfigureResponse{}, err
	}
	mouse, err := sim.New(cfg)
	if err != nil {
		return rig.ConfigureResponse{}, fmt.Errorf("acquisition settings: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return rig.ConfigureResponse{}, fmt.Errorf("simacq: Configure during a session, want Stop first: %w", rig.ErrState)
	}
	a.cfg, a.mouse, a.sessions = cfg, mouse, 0
	return rig.ConfigureResponse{}, nil
}

// Describe reports the population: Neurons, NeuronIDs "sim-0000",
// "sim-0001", ..., the scan rate (imaging_rate_hz / planes: one scan per
// volume) and Simulated = true.
func (a *Acquisition) Describe(context.Context, rig.DescribeRequest) (rig.AcquisitionInfo, error) {
	a.mu.Lock()
	cfg := a.cfg
	a.mu.Unlock()
	ids := make([]string, cfg.Neurons)
	for i := range ids {
		ids[i] = fmt.Sprintf("sim-%04d", i)
	}
	return rig.AcquisitionInfo{
		Name:          Name,
		Neurons:       cfg.Neurons,
		NeuronIDs:     ids,
		ImagingRateHz: cfg.ImagingRateHz / float64(cfg.Planes),
		Simulated:     true,
		TellsTruth:    true,
	}, nil
}

// Start begins a session: the mouse's time restarts at zero with the next
// session's spikes and noise. Both clocks are accepted; RealClock needs a
// non-zero Epoch, the wall-clock time of session time zero.
func (a *Acquisition) Start(_ context.Context, req rig.StartRequest) (rig.StartResponse, error) {
	switch req.Clock {
	case rig.VirtualClock:
	case rig.RealClock:
		if req.Epoch.IsZero() {
			return rig.StartResponse{}, fmt.Errorf("simacq: Start on the real clock with a zero Epoch, want the wall-clock time of session zero: %w", rig.ErrInvalid)
		}
	default:
		return rig.StartResponse{}, fmt.Errorf("simacq: Start with clock %d, want virtual (%d) or real (%d): %w", req.Clock, rig.VirtualClock, rig.RealClock, rig.ErrInvalid)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mouse == nil {
		mouse, err := sim.New(a.cfg)
		if err != nil {
			return rig.StartResponse{}, fmt.Errorf("simacq: %w", err)
		}
		a.mouse = mouse
	}
	a.mouse.Reset(a.sessions)
	a.log.Info("simulated acquisition started", "session", a.sessions, "clock", req.Clock.String(),
		"neurons", a.cfg.Neurons, "imaging_rate_hz", a.cfg.ImagingRateHz, "planes", a.cfg.Planes, "indicator", a.cfg.Indicator.Name)
	a.sessions++
	a.running, a.clock, a.epoch, a.late = true, req.Clock, req.Epoch, 0
	return rig.StartResponse{}, nil
}

// Observe shows the mouse each frame, in order: the frame appears at its
// Time and stays until the next frame. Frames must come in time order, also
// across calls (an error wrapping rig.ErrInvalid otherwise). Frames that
// arrive after a Read already passed their time are applied late and
// logged.
func (a *Acquisition) Observe(ctx context.Context, req rig.ObserveRequest) (rig.ObserveResponse, error) {
	if err := ctx.Err(); err != nil {
		return rig.ObserveResponse{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		return rig.ObserveResponse{}, fmt.Errorf("simacq: Observe outside a session, want Start first: %w", rig.ErrState)
	}
	for _, f := range req.Frames {
		if err := a.mouse.Observe(f.Time, f.Frame.Pixels, f.Frame.Width, f.Frame.Height); err != nil {
			return rig.ObserveResponse{}, fmt.Errorf("simacq: observe frame %d: %w", f.Index, err)
		}
	}
	if late := a.mouse.LateFrames(); late > a.late {
		a.log.Warn("frames observed after their time was read; applied late", "late_frames", late-a.late, "session_total", late)
		a.late = late
	}
	return rig.ObserveResponse{}, nil
}

// Read returns every scan with Time <= req.Until not returned before, in
// order. On the real clock it first waits until Epoch + Until has passed
// in wall time, returning ctx's error if ctx ends first.
func (a *Acquisition) Read(ctx context.Context, req rig.ReadRequest) (rig.ReadResponse, error) {
	if err := ctx.Err(); err != nil {
		return rig.ReadResponse{}, err
	}
	a.mu.Lock()
	running, clock, epoch, session := a.running, a.clock, a.epoch, a.sessions
	a.mu.Unlock()
	if !running {
		return rig.ReadResponse{}, fmt.Errorf("simacq: Read outside a session, want Start first: %w", rig.ErrState)
	}
	if clock == rig.RealClock {
		if wait := time.Until(epoch.Add(req.Until)); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return rig.ReadResponse{}, fmt.Errorf("simacq: waiting for session time %v: %w", req.Until, ctx.Err())
			case <-timer.C:
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running || a.sessions != session {
		return rig.ReadResponse{}, fmt.Errorf("simacq: the session ended during Read: %w", rig.ErrState)
	}
	scans := a.mouse.Scans(req.Until)
	now := time.Now()
	for i := range scans {
		// The simulated microscope's clock is the session clock.
		scans[i].SourceTime, scans[i].HostTime = scans[i].Time, now
	}
	return rig.ReadResponse{Scans: scans}, nil
}

// Stop ends the session. Stop outside a session does nothing.
func (a *Acquisition) Stop(context.Context, rig.StopRequest) (rig.StopResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		a.log.Info("simulated acquisition stopped", "late_frames", a.mouse.LateFrames())
	}
	a.running = false
	return rig.StopResponse{}, nil
}
