package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// warmupDecays is how many indicator decay times each session simulates on
// a mean-gray screen before time zero, to reach the steady state.
const warmupDecays = 5

// Random stream keys (PCG's second seed word) for the receptive fields.
// Sessions use 2*session+1 for spikes and 2*session+2 for noise.
const rfStream = 0

// Mouse is a simulated mouse under a two-photon microscope.
//
// Show it frames with Observe and collect imaging frames with Scans; Reset
// starts a new session. A Mouse is not safe for concurrent use.
type Mouse struct {
	cfg     Config
	n       int
	rfs     []RF
	filters []filter

	steps      int     // simulation steps per imaging frame
	dt         float64 // step length, s
	keep       float64 // integration low-pass: y <- keep*y + (1-keep)*x per step
	decay      float64 // calcium decay factor per step
	rise       float64 // calcium rise factor per step (0: instantaneous rise)
	spikeScale float64 // calcium added per spike, so the kernel peaks at 1
	warmup     int64   // steps simulated before time zero

	// Per neuron.
	lagGroups       [][]int   // neurons by lag in whole steps, 0..steps
	sampleDecay     []float64 // decay from a neuron's sampling boundary to its sample time
	sampleRise      []float64
	rect0           []float64 // rectify(-th)
	rectSpan        []float64 // rectify(1-th) - rectify(-th)
	complexIndex    []bool
	threshold, peak []float64

	// Session state, set by Reset.
	spikes, noise *rand.Rand
	b             int64 // the boundary the simulation has reached; time b*dt
	ye, yo        []float64
	cd, cr        []float64
	rate          []float64
	cur           []float32 // filter outputs of the frame on screen: even then odd
	acc           []float64
	events        []event // frames observed but not yet reached, in time order
	head          int
	free          [][]float32
	rs            *resampler
	grid, shown   []float32 // scratch and the grid of the last observed frame
	observed      bool
	lastT         time.Duration
	nextScan      int64
	open          [2][]float32 // scans being sampled, by index parity
	late          int64
}

// event is an observed frame: when it appeared and its filter outputs.
type event struct {
	t    float64
	proj []float32
}

// New builds the mouse that cfg describes, ready for session 0. It returns
// Validate's error if cfg is invalid.
func New(cfg Config) (*Mouse, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := cfg.Neurons
	m := &Mouse{
		cfg:          cfg,
		n:            n,
		rfs:          make([]RF, n),
		filters:      make([]filter, n),
		steps:        cfg.StepsPerScan,
		dt:           1 / (cfg.ImagingRateHz * float64(cfg.StepsPerScan)),
		lagGroups:    make([][]int, cfg.StepsPerScan+1),
		sampleDecay:  make([]float64, n),
		sampleRise:   make([]float64, n),
		rect0:        make([]float64, n),
		rectSpan:     make([]float64, n),
		complexIndex: make([]bool, n),
		threshold:    make([]float64, n),
		peak:         make([]float64, n),
	}
	if cfg.IntegrationTau > 0 {
		m.keep = math.Exp(-m.dt / cfg.IntegrationTau.Seconds())
	}
	td := cfg.Indicator.Decay.Seconds()
	tr := cfg.Indicator.Rise.Seconds()
	m.decay = math.Exp(-m.dt / td)
	m.spikeScale = 1
	if tr > 0 {
		m.rise = math.Exp(-m.dt / tr)
		tPeak := tr * td / (td - tr) * math.Log(td/tr)
		m.spikeScale = 1 / (math.Exp(-tPeak/td) - math.Exp(-tPeak/tr))
	}
	scansPerDecay := td * cfg.ImagingRateHz
	m.warmup = int64(cfg.StepsPerScan) * (int64(math.Ceil(warmupDecays*scansPerDecay)) + 1)

	rng := rand.New(rand.NewPCG(cfg.Seed, rfStream))
	for i := range n {
		rf := drawRF(rng, cfg)
		m.rfs[i] = rf
		m.filters[i] = newFilter(rf, cfg.GridWidth, cfg.GridHeight)
		m.complexIndex[i] = rf.Complex
		m.threshold[i] = rf.Threshold
		m.peak[i] = rf.PeakRateHz
		m.rect0[i] = rectify(-rf.Threshold)
		m.rectSpan[i] = rectify(1-rf.Threshold) - m.rect0[i]
		// The neuron is sampled at Lag before a scan boundary: at whole
		// step boundary `back` steps earlier plus tau.
		lag := rf.Lag.Seconds()
		back := min(cfg.StepsPerScan, max(0, int(math.Ceil(lag/m.dt-1e-9))))
		tau := max(0, float64(back)*m.dt-lag)
		m.lagGroups[back] = append(m.lagGroups[back], i)
		m.sampleDecay[i] = math.Exp(-tau / td)
		if tr > 0 {
			m.sampleRise[i] = math.Exp(-tau / tr)
		}
	}
	m.Reset(0)
	return m, nil
}

// Reset starts session number session: time returns to before zero, the
// screen to mean gray, the calcium to its resting state, and the spike and
// noise streams restart from keys derived from the Seed and session. The
// receptive fields are kept: it is the same mouse.
func (m *Mouse) Reset(session uint64) {
	n := m.n
	m.spikes = rand.New(rand.NewPCG(m.cfg.Seed, 2*session+1))
	m.noise = rand.New(rand.NewPCG(m.cfg.Seed, 2*session+2))
	m.b = -m.warmup
	m.ye = make([]float64, n)
	m.yo = make([]float64, n)
	m.cd = make([]float64, n)
	m.cr = make([]float64, n)
	m.rate = make([]float64, n)
	for i := range m.rate {
		m.rate[i] = m.cfg.BaselineRateHz
	}
	m.cur = make([]float32, 2*n)
	m.acc = make([]float64, 2*n)
	m.events, m.head, m.free = nil, 0, nil
	gridLen := m.cfg.GridWidth * m.cfg.GridHeight
	m.grid = make([]float32, gridLen)
	m.shown = make([]float32, gridLen) // mean gray
	m.observed, m.lastT = false, 0
	m.nextScan = 0
	m.open = [2][]float32{}
	m.late = 0
}

// Neurons returns the population size.
func (m *Mouse) Neurons() int { return m.n }

// Config returns the mouse's configuration.
func (m *Mouse) Config() Config { return m.cfg }

// RF returns neuron i's parameters, 0 <= i < Neurons().
func (m *Mouse) RF(i int) RF { return m.rfs[i] }

// Rates returns each neuron's firing rate, in Hz, during the last
// simulated step (the baseline before any step). The caller owns the slice.
func (m *Mouse) Rates() []float64 { return slices.Clone(m.rate) }

// LateFrames counts the frames of this session that arrived after the
// simulation had passed their time (see Observe).
func (m *Mouse) LateFrames() int64 { return m.late }

// ScanTime returns the session time of imaging frame k: k/ImagingRateHz,
// rounded to the nanosecond.
func (m *Mouse) ScanTime(k int64) time.Duration {
	return time.Duration(math.Round(float64(k) * 1e9 / m.cfg.ImagingRateHz))
}

// Observe reports that a frame of width x height pixels (8-bit gray,
// row-major, len(pixels) == width*height, any size: it is averaged onto the
// stimulus grid) became visible at session time t and stays until the next
// Observe. Until the first Observe of a session the screen is mean gray.
// The pixels are not retained.
//
// Frames must come in time order: a t before the previous frame's returns
// an error wrapping rig.ErrInvalid, as does a bad size. A frame at the same
// t as its predecessor replaces it. A frame whose t is earlier than the
// time the simulation already reached (because Scans returned imaging
// frames past t) is applied from that time on, and counted by LateFrames.
func (m *Mouse) Observe(t time.Duration, pixels []byte, width, height int) error {
	if width < 1 || height < 1 || len(pixels) != width*height {
		return fmt.Errorf("sim: frame at %v: %d bytes for %dx%d pixels, want width and height >= 1 and %d bytes: %w",
			t, len(pixels), width, height, max(0, width*height), rig.ErrInvalid)
	}
	if m.observed && t < m.lastT {
		return fmt.Errorf("sim: frame at %v after a frame at %v, want frames in time order: %w", t, m.lastT, rig.ErrInvalid)
	}
	if m.rs == nil || m.rs.width != width || m.rs.height != height {
		m.rs = newResampler(width, height, m.cfg.GridWidth, m.cfg.GridHeight)
	}
	m.rs.resample(pixels, m.grid)
	m.observed, m.lastT = true, t
	ts := t.Seconds()
	if ts < float64(m.b)*m.dt {
		m.late++
	}
	if slices.Equal(m.grid, m.shown) {
		return nil // the screen did not change
	}
	m.grid, m.shown = m.shown, m.grid
	proj := m.buffer()
	for i := range m.filters {
		proj[i], proj[m.n+i] = m.filters[i].apply(m.shown)
	}
	m.events = append(m.events, event{t: ts, proj: proj})
	return nil
}

// buffer returns a free filter-output buffer.
func (m *Mouse) buffer() []float32 {
	if k := len(m.free); k > 0 {
		b := m.free[k-1]
		m.free = m.free[:k-1]
		return b
	}
	return make([]float32, 2*m.n)
}

// Scans simulates up to until and returns, in order, every imaging frame
// whose Time is <= until and that no earlier call returned (none when
// until < 0). Values holds dF/F per neuron; Behaviour is zero (the training
// mean). Frames not yet observed are taken to continue the last one
// observed, so call Observe for the frames up to until first. The cost
// grows with until minus the previous call's until.
func (m *Mouse) Scans(until time.Duration) []rig.Scan {
	var out []rig.Scan
	for {
		k := m.nextScan
		st := m.ScanTime(k)
		if st > until {
			return out
		}
		for m.b < k*int64(m.steps) {
			m.step()
		}
		buf := m.open[k&1]
		m.open[k&1] = nil
		out = append(out, rig.Scan{Index: k, Time: st, Values: buf})
		m.nextScan++
	}
}

// step simulates from boundary b to b+1 and samples the neurons whose
// sample time falls in the new boundary's slot.
func (m *Mouse) step() {
	n := m.n
	t0 := float64(m.b) * m.dt
	t1 := t0 + m.dt

	// The filter outputs averaged over [t0, t1), weighted by how long each
	// frame was on screen.
	acc := m.acc
	for i, v := range m.cur {
		acc[i] = float64(v)
	}
	if m.head < len(m.events) && m.events[m.head].t < t1 {
		clear(acc)
		from := t0
		for m.head < len(m.events) && m.events[m.head].t < t1 {
			e := m.events[m.head]
			m.events[m.head] = event{}
			m.head++
			at := max(e.t, from)
			if w := (at - from) / m.dt; w > 0 {
				for i, v := range m.cur {
					acc[i] += w * float64(v)
				}
			}
			from = at
			m.free = append(m.free, m.cur)
			m.cur = e.proj
		}
		w := (t1 - from) / m.dt
		for i, v := range m.cur {
			acc[i] += w * float64(v)
		}
		if m.head == len(m.events) {
			m.events, m.head = m.events[:0], 0
		}
	}

	keep, take := m.keep, 1-m.keep
	for i := range n {
		m.ye[i] = keep*m.ye[i] + take*acc[i]
		x := m.ye[i]
		if m.complexIndex[i] {
			m.yo[i] = keep*m.yo[i] + take*acc[n+i]
			x = math.Hypot(x, m.yo[i])
		}
		r := m.cfg.BaselineRateHz
		if x != 0 {
			r += m.peak[i] * (rectify(x-m.threshold[i]) - m.rect0[i]) / m.rectSpan[i]
			r = min(m.cfg.MaxRateHz, max(0, r))
		}
		m.rate[i] = r
		k := poisson(m.spikes, r*m.dt)
		m.cd[i] = m.decay*m.cd[i] + float64(k)*m.spikeScale
		if m.rise > 0 {
			m.cr[i] = m.rise*m.cr[i] + float64(k)*m.spikeScale
		}
	}
	m.b++

	// Neurons `back` steps before a scan boundary sample now.
	s := int64(m.steps)
	back := int(((-m.b)%s + s) % s)
	m.sample(back, (m.b+int64(back))/s)
	if back == 0 {
		m.sample(m.steps, m.b/s+1)
	}
}

// sample records the dF/F of the neurons in lag group back into scan k.
func (m *Mouse) sample(back int, k int64) {
	group := m.lagGroups[back]
	if k < 0 || len(group) == 0 {
		return
	}
	buf := m.open[k&1]
	if buf == nil {
		buf = make([]float32, m.n)
		m.open[k&1] = buf
	}
	amp, sd := m.cfg.SpikeAmplitude, m.cfg.NoiseSD
	for _, i := range group {
		c := m.cd[i] * m.sampleDecay[i]
		if m.rise > 0 {
			c -= m.cr[i] * m.sampleRise[i]
		}
		v := amp * c
		if sd > 0 {
			v += sd * m.noise.NormFloat64()
		}
		buf[i] = float32(v)
	}
}

// rectify is the smooth rectifier (x + sqrt(x^2 + knee^2)) / 2: about 0
// well below zero, about x well above, knee/2 at zero. It is a softplus in
// shape that costs one square root.
func rectify(x float64) float64 {
	return (x + math.Sqrt(x*x+rectifierKnee*rectifierKnee)) / 2
}

// poisson draws a Poisson count with mean lam: Knuth's product of uniforms
// for small means, a rounded normal approximation above 30. The first
// uniform decides "no spike" without computing exp(-lam) when it can: the
// count is 0 when 1-u < 1-exp(-lam), which holds whenever 1-u >= lam.
func poisson(rng *rand.Rand, lam float64) int {
	if lam <= 0 {
		return 0
	}
	if lam > 30 {
		return max(0, int(math.Round(lam+math.Sqrt(lam)*rng.NormFloat64())))
	}
	p := rng.Float64()
	if 1-p >= lam {
		return 0
	}
	limit := math.Exp(-lam)
	k := 0
	for ; p > limit; p *= rng.Float64() {
		k++
	}
	return k
}
