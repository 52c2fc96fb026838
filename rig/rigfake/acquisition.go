package rigfake

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// Acquisition is a fake simulated acquisition whose neurons respond to the
// frames observed: the scan at time t reports, for neuron n,
// Response(f, Neurons)[n] for the frame f on screen at t (the last one
// observed with Time <= t; mid-gray before the first), plus NoiseSD times
// a standard normal draw seeded by Seed and the scan's index (so that the
// noise does not depend on how Reads are cut). Scan i of a session is at
// i/ImagingRateHz, with SourceTime equal to Time, the behaviour
// Behaviour(i) (zero when Behaviour is nil) and no HostTime.
//
// Call order: Configure (optional: it accepts an empty settings object
// and rejects any setting), Describe, Start, then Observe and Read in any
// order, then Stop. Observe and Read outside a session wrap rig.ErrState;
// frames observed out of time order, or with pixels that do not fill
// their size, wrap rig.ErrInvalid. Start during a session starts a new one
// (time restarts at zero). On the real clock Read waits until Epoch +
// Until.
//
// The zero value is ready to use. All methods are safe for concurrent use.
type Acquisition struct {
	// Neurons is the population size; 0 means 3.
	Neurons int
	// NeuronIDs names the neurons (optional; len Neurons when set).
	NeuronIDs []string
	// ImagingRateHz is the scan rate; 0 means 30.
	ImagingRateHz float64
	// NoiseSD is the s.d. of the Gaussian noise added to every value.
	NoiseSD float64
	// Seed seeds the noise.
	Seed uint64
	// Behaviour, when set, is the behaviour recorded with scan i of a
	// session.
	Behaviour func(scan int64) rig.Behaviour
	// Fail, when set, is called with the method's name at the start of
	// every call, once the call is in the CallLog; an error it returns is
	// what the call returns.
	Fail func(method string) error

	CallLog

	mu         sync.Mutex
	configures []rig.ConfigureRequest
	starts     []rig.StartRequest
	observes   []rig.ObserveRequest
	reads      []ReadCall

	running  bool
	sessions int
	clock    rig.Clock
	epoch    time.Time
	shown    []seen // frames observed this session, in time order
	cur      int    // shown[cur] was on screen at the last scan (-1: none yet)
	next     int64  // the next scan's index
}

// seen is an observed frame's time and the neurons' response to it.
type seen struct {
	time   time.Duration
	values []float32
}

// ReadCall is one Read a fake answered: the request and the scans it
// returned (copied).
type ReadCall struct {
	Request rig.ReadRequest
	Scans   []rig.Scan
}

var _ rig.Acquisition = (*Acquisition)(nil)

func (a *Acquisition) neurons() int {
	if a.Neurons > 0 {
		return a.Neurons
	}
	return 3
}

func (a *Acquisition) rate() float64 {
	if a.ImagingRateHz > 0 {
		return a.ImagingRateHz
	}
	return 30
}

// Configures returns the Configure requests received, in order.
func (a *Acquisition) Configures() []rig.ConfigureRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.configures)
}

// Starts returns the Start requests received, in order.
func (a *Acquisition) Starts() []rig.StartRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.starts)
}

// Observes returns the Observe requests received, in order, their frames
// copied.
func (a *Acquisition) Observes() []rig.ObserveRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.observes)
}

// Reads returns the Read calls answered, in order.
func (a *Acquisition) Reads() []ReadCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.reads)
}

// Scans returns every scan read so far, over all sessions, in order.
func (a *Acquisition) Scans() []rig.Scan {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []rig.Scan
	for _, r := range a.reads {
		out = append(out, r.Scans...)
	}
	return out
}

// Configure records the request. Settings must be empty or an empty JSON
// object; anything else wraps rig.ErrInvalid.
func (a *Acquisition) Configure(_ context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	if err := a.enter("Configure", a.Fail); err != nil {
		return rig.ConfigureResponse{}, err
	}
	a.mu.Lock()
	a.configures = append(a.configures, rig.ConfigureRequest{Settings: cloneBytes(req.Settings)})
	a.mu.Unlock()
	return rig.ConfigureResponse{}, checkNoSettings("rigfake acquisition", req.Settings)
}

// Describe answers the population and the scan rate, Simulated.
func (a *Acquisition) Describe(context.Context, rig.DescribeRequest) (rig.AcquisitionInfo, error) {
	if err := a.enter("Describe", a.Fail); err != nil {
		return rig.AcquisitionInfo{}, err
	}
	if a.NeuronIDs != nil && len(a.NeuronIDs) != a.neurons() {
		return rig.AcquisitionInfo{}, fmt.Errorf("rigfake acquisition: %d neuron ids for %d neurons: %w", len(a.NeuronIDs), a.neurons(), rig.ErrInvalid)
	}
	return rig.AcquisitionInfo{Name: "rigfake-acquisition", Neurons: a.neurons(), NeuronIDs: slices.Clone(a.NeuronIDs),
		ImagingRateHz: a.rate(), Simulated: true}, nil
}

// Start begins a session at time zero. The real clock needs an Epoch.
func (a *Acquisition) Start(_ context.Context, req rig.StartRequest) (rig.StartResponse, error) {
	if err := a.enter("Start", a.Fail); err != nil {
		return rig.StartResponse{}, err
	}
	if err := checkClock("rigfake acquisition", req); err != nil {
		return rig.StartResponse{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.starts = append(a.starts, req)
	a.running, a.clock, a.epoch = true, req.Clock, req.Epoch
	a.shown, a.cur, a.next = nil, -1, 0
	a.sessions++
	return rig.StartResponse{}, nil
}

// checkClock checks a Start request's clock and epoch.
func checkClock(who string, req rig.StartRequest) error {
	switch req.Clock {
	case rig.VirtualClock:
	case rig.RealClock:
		if req.Epoch.IsZero() {
			return fmt.Errorf("%s: Start on the real clock with a zero Epoch: %w", who, rig.ErrInvalid)
		}
	default:
		return fmt.Errorf("%s: Start with clock %d, want virtual or real: %w", who, req.Clock, rig.ErrInvalid)
	}
	return nil
}

// Observe records the frames and shows them to the neurons.
func (a *Acquisition) Observe(_ context.Context, req rig.ObserveRequest) (rig.ObserveResponse, error) {
	if err := a.enter("Observe", a.Fail); err != nil {
		return rig.ObserveResponse{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.observes = append(a.observes, rig.ObserveRequest{Frames: cloneShown(req.Frames)})
	if !a.running {
		return rig.ObserveResponse{}, fmt.Errorf("rigfake acquisition: Observe outside a session, want Start first: %w", rig.ErrState)
	}
	for _, f := range req.Frames {
		if fr := f.Frame; fr.Width < 1 || fr.Height < 1 || len(fr.Pixels) != fr.Width*fr.Height {
			return rig.ObserveResponse{}, fmt.Errorf("rigfake acquisition: frame %d is %dx%d with %d pixels, want at least 1x1 and width*height pixels: %w",
				f.Index, f.Frame.Width, f.Frame.Height, len(f.Frame.Pixels), rig.ErrInvalid)
		}
		if n := len(a.shown); n > 0 && f.Time < a.shown[n-1].time {
			return rig.ObserveResponse{}, fmt.Errorf("rigfake acquisition: frame %d at %v comes before one at %v, want time order: %w",
				f.Index, f.Time, a.shown[n-1].time, rig.ErrInvalid)
		}
		a.shown = append(a.shown, seen{time: f.Time, values: Response(f.Frame, a.neurons())})
	}
	return rig.ObserveResponse{}, nil
}

// Read returns the scans at or before req.Until not returned before.
func (a *Acquisition) Read(ctx context.Context, req rig.ReadRequest) (rig.ReadResponse, error) {
	if err := a.enter("Read", a.Fail); err != nil {
		return rig.ReadResponse{}, err
	}
	a.mu.Lock()
	running, clock, epoch, session := a.running, a.clock, a.epoch, a.sessions
	a.mu.Unlock()
	if !running {
		return rig.ReadResponse{}, fmt.Errorf("rigfake acquisition: Read outside a session, want Start first: %w", rig.ErrState)
	}
	if clock == rig.RealClock {
		if err := waitUntil(ctx, epoch.Add(req.Until)); err != nil {
			return rig.ReadResponse{}, fmt.Errorf("rigfake acquisition: waiting for session time %v: %w", req.Until, err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running || a.sessions != session {
		return rig.ReadResponse{}, fmt.Errorf("rigfake acquisition: the session ended during Read: %w", rig.ErrState)
	}
	var out rig.ReadResponse
	gray := Response(Uniform(1, 1, 128), a.neurons())
	for {
		t := framePeriod(a.next, a.rate())
		if t > req.Until {
			break
		}
		for a.cur+1 < len(a.shown) && a.shown[a.cur+1].time <= t {
			a.cur++
		}
		v := gray
		if a.cur >= 0 {
			v = a.shown[a.cur].values
		}
		v = slices.Clone(v)
		if a.NoiseSD > 0 {
			rng := rand.New(rand.NewPCG(a.Seed, uint64(a.next)))
			for n := range v {
				v[n] += float32(a.NoiseSD * rng.NormFloat64())
			}
		}
		s := rig.Scan{Index: a.next, Time: t, SourceTime: t, Values: v}
		if a.Behaviour != nil {
			s.Behaviour = a.Behaviour(a.next)
		}
		out.Scans = append(out.Scans, s)
		a.next++
	}
	a.reads = append(a.reads, ReadCall{Request: req, Scans: cloneScans(out.Scans)})
	return out, nil
}

// Stop ends the session; outside one it does nothing.
func (a *Acquisition) Stop(context.Context, rig.StopRequest) (rig.StopResponse, error) {
	if err := a.enter("Stop", a.Fail); err != nil {
		return rig.StopResponse{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running = false
	return rig.StopResponse{}, nil
}
