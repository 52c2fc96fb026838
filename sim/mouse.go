package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// warmupDecays is how many indicator decay times each session simulates on
// a mean-gray screen before time zero, to reach the steady state.
const warmupDecays = 5

// Random stream keys (PCG's second seed word) for the receptive fields.
// Sessions use 2*session+1 for the spikes of the first chunk of neurons
// and 2*session+2 for the imaging noise and drift of the first chunk;
// streamKey gives the others (behaviour, gain noise and neuropil, other
// chunks' spikes, gain noise, imaging noise and drift).
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
	bank    *bank // the filters, packed for projecting frames

	steps      int     // simulation steps per imaging frame
	dt         float64 // step length, s
	keep       float64 // integration low-pass: y <- keep*y + (1-keep)*x per step
	decay      float64 // calcium decay factor per step
	rise       float64 // calcium rise factor per step (0: instantaneous rise)
	spikeScale float64 // calcium added per spike, so the kernel peaks at 1
	warmup     int64   // steps simulated before time zero

	// Per neuron.
	lagGroups    [][]int   // neurons by lag in whole steps, 0..steps
	groupCuts    [][]int   // per lag group: where each chunk's neurons start in it, and its length
	sampleDecay  []float64 // decay from a neuron's sampling boundary to its sample time
	sampleRise   []float64
	rect0        []float64 // rectify(-th)
	peakPerSpan  []float64 // peak / (rectify(1-th) - rectify(-th))
	kind         []cellKind
	threshold    []float64
	c50, runGain []float64
	plane        []int32
	dsDelay      []int32   // DS cells: quadrature delay in steps; others 0
	dsSign       []float64 // DS cells: -1 prefers drift along the wave vector, +1 against
	dsOff        []int32   // DS cells: offset of their delay line in dsRing
	dsLen        int       // total delay-line length
	planeCount   []float64 // neurons per plane
	spikeCap     int       // most spikes per step (refractory period), 0: no cap
	gainKeep     float64   // gain noise OU factor per step
	npKeep       float64   // neuropil OU factor per step
	driftKeep    float64   // drift OU factor per update
	driftEvery   int64     // scans per drift update
	stats        BehaviourStats
	gainEvery    int     // steps per gain-noise update
	chunks       []chunk // neuron ranges simulated independently
	spec         *spectrum
	specBuf      []float32 // scratch: one frame's spectrum

	// Session state, set by Reset.
	b           int64 // the boundary the simulation has reached; time b*dt
	ye, yo      []float64
	cd, cr      []float64
	rate        []float64
	cur         []float32 // filter outputs of the frame on screen: even then odd
	acc         []float32 // filter outputs averaged over a step with frame changes
	events      []event   // frames observed but not yet reached, in time order
	head        int
	projected   int                // events[head:projected] have their filter outputs
	free        [][]float32        // filter-output buffers to reuse
	freeGrids   [][]float32        // grid buffers to reuse
	segments    []segment          // scratch: this step's frames and their weights
	batches     [][]vec            // scratch: the sources of this step's projection passes
	batchOut    [][lanes][]float32 // per pass: its lanes' filter-output buffers
	retired     [][]float32        // filter outputs the step in progress leaves behind
	spentGrids  [][]float32        // grids the step in progress projects
	rs          *resampler
	grid, shown []float32 // scratch and the grid of the last observed frame
	observed    bool
	lastT       time.Duration
	nextScan    int64
	open        [2][]float32 // scans being sampled, by index parity
	late        int64

	beh        *behaviour
	behRNG     *rand.Rand
	imgRNG     *rand.Rand // gain noise, neuropil and drift
	gainLog    []float64  // per neuron: log gain fluctuation
	gainFactor []float64  // per neuron: exp(gainLog) scaled to mean 1
	drift      []float64  // per neuron
	dsRing     []float64  // DS delay lines: even then odd output per slot
	dsPos      []int32    // per neuron: the delay line's current slot
	npOU       []float64  // per plane: neuropil fluctuation
	neuropil   []float64  // per plane: neuropil dF/F at the last boundary
	planeSum   []float64
	spikeAcc   []uint16 // per neuron: spikes since its last sample
	truthOpen  [2]*Truth
	pending    []pendingSample // samples queued for the next parallel pass
	truth      []Truth         // ring of the latest TruthHistory scans
	modulation float64         // running and pupil term shared by all neurons this step
	run        float64         // speed / RunSpeed this step
}

// gainUpdates is how many times per GainNoiseTau the gain noise moves
// (an exact Ornstein-Uhlenbeck transition each time, held in between).
const gainUpdates = 10

// driftUpdates is how many times per DriftTau the ROIs' baseline drift
// moves (an exact Ornstein-Uhlenbeck transition each time, at least once
// per scan, held in between).
const driftUpdates = 100

// chunkSize is how many neurons share one spike stream: the unit of
// parallel work. Fixed, so that results do not depend on the machine.
const chunkSize = 1024

// chunk is a range of neurons [lo, hi) with random streams of its own.
type chunk struct {
	lo, hi       int
	spikes, gain *rand.Rand
	noise        *rand.Rand // imaging noise and drift of the chunk's neurons
	spikeSrc     *rand.PCG  // the source of spikes, drawn from directly for uniforms
	planeSum     []float64  // this step's sum of dF/F per plane
	complex, ds  []int32    // the chunk's complex and DS cells, from lo
	drive        []float64  // scratch: this step's drive per neuron
}

// cellKind is a neuron's type.
type cellKind uint8

const (
	simpleCell cellKind = iota
	complexCell
	dsCell
)

// noiseStream marks the streamKey streams of the imaging noise and drift
// of chunks 1, 2, ... (chunk c: noiseStream | c).
const noiseStream = 1 << 20

// streamKey returns the random-stream key of session's stream j for the
// streams added after the first release (behaviour, imaging).
func streamKey(session uint64, j uint64) uint64 { return 1<<63 | session<<24 | j }

// statsStream keys the behaviour statistics session.
const statsStream = 1<<63 | 1<<62

// event is an observed frame: when it appeared, its grid, and its filter
// outputs (even then odd per neuron) once projected. Frames are projected
// lazily, up to lanes at a time, when the simulation first needs them.
type event struct {
	t    float64
	grid []float32
	proj []float32
}

// segment is a stretch of a step during which one frame was on screen:
// its filter outputs and the fraction of the step it lasted.
type segment struct {
	w    float64
	proj []float32
}

// New builds the mouse that cfg describes, ready for session 0. It returns
// Validate's error if cfg is invalid.
func New(cfg Config) (*Mouse, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := cfg.Neurons
	steps := cfg.StepsPerScan * cfg.Planes
	m := &Mouse{
		cfg:         cfg,
		n:           n,
		rfs:         make([]RF, n),
		filters:     make([]filter, n),
		steps:       steps,
		dt:          1 / (cfg.ImagingRateHz * float64(cfg.StepsPerScan)),
		lagGroups:   make([][]int, steps+1),
		sampleDecay: make([]float64, n),
		sampleRise:  make([]float64, n),
		rect0:       make([]float64, n),
		peakPerSpan: make([]float64, n),
		kind:        make([]cellKind, n),
		threshold:   make([]float64, n),
		c50:         make([]float64, n),
		runGain:     make([]float64, n),
		plane:       make([]int32, n),
		dsDelay:     make([]int32, n),
		dsSign:      make([]float64, n),
		dsOff:       make([]int32, n),
		planeCount:  make([]float64, cfg.Planes),
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
	if r := cfg.RefractoryPeriod.Seconds(); r > 0 {
		m.spikeCap = max(1, int(m.dt/r))
	}
	m.gainKeep = math.Exp(-m.dt / cfg.GainNoiseTau.Seconds())
	m.gainEvery = max(1, int(math.Round(cfg.GainNoiseTau.Seconds()/(gainUpdates*m.dt))))
	m.npKeep = math.Exp(-m.dt / cfg.NeuropilTau.Seconds())
	scanPeriod := float64(steps) * m.dt
	m.driftEvery = max(1, int64(math.Round(cfg.DriftTau.Seconds()/(driftUpdates*scanPeriod))))
	m.driftKeep = math.Exp(-float64(m.driftEvery) * scanPeriod / cfg.DriftTau.Seconds())
	scansPerDecay := td * cfg.ImagingRateHz / float64(cfg.Planes)
	m.warmup = int64(steps) * (int64(math.Ceil(warmupDecays*scansPerDecay)) + 1)

	m.spec = newSpectrum(cfg.GridWidth, cfg.GridHeight)
	m.specBuf = make([]float32, m.spec.bins())
	rng := rand.New(rand.NewPCG(cfg.Seed, rfStream))
	for i := range n {
		rf := drawRF(rng, cfg)
		switch {
		case rf.Complex:
			m.kind[i] = complexCell
		case rf.DS:
			m.kind[i] = dsCell
			d := max(1, int(math.Round(1/(4*rf.TemporalFreqHz*m.dt))))
			rf.TemporalFreqHz = 1 / (4 * float64(d) * m.dt)
			m.dsDelay[i] = int32(d)
			m.dsOff[i] = int32(m.dsLen)
			m.dsLen += 2 * d
			m.dsSign[i] = -1
			if rf.DirectionDeg >= 180 {
				m.dsSign[i] = 1
			}
		}
		m.rfs[i] = rf
		m.filters[i] = newFilter(rf, cfg.GridWidth, cfg.GridHeight)
		makeSpectral(&m.filters[i], rf, m.spec)
		m.threshold[i] = rf.Threshold
		m.c50[i] = rf.C50
		m.runGain[i] = rf.RunningGain
		m.plane[i] = int32(rf.Plane)
		m.planeCount[rf.Plane]++
		m.rect0[i] = rectify(-rf.Threshold)
		m.peakPerSpan[i] = rf.PeakRateHz / (rectify(1-rf.Threshold) - m.rect0[i])
		// The neuron is sampled at Lag before a scan boundary: at whole
		// step boundary `back` steps earlier plus tau.
		lag := rf.Lag.Seconds()
		back := min(steps, max(0, int(math.Ceil(lag/m.dt-1e-9))))
		tau := max(0, float64(back)*m.dt-lag)
		m.lagGroups[back] = append(m.lagGroups[back], i)
		m.sampleDecay[i] = math.Exp(-tau / td)
		if tr > 0 {
			m.sampleRise[i] = math.Exp(-tau / tr)
		}
	}
	m.groupCuts = make([][]int, len(m.lagGroups))
	chunks := (n + chunkSize - 1) / chunkSize
	for back, group := range m.lagGroups {
		cuts := make([]int, chunks+1)
		for c := range cuts {
			cuts[c], _ = slices.BinarySearch(group, c*chunkSize) // group is in neuron order
		}
		m.groupCuts[back] = cuts
	}
	m.spec.restrict(m.filters)
	m.bank = newBank(m.filters, cfg.GridWidth*cfg.GridHeight, m.spec.bins())
	m.stats = behaviourStats(cfg.Behaviour, cfg.Seed)
	m.Reset(0)
	return m, nil
}

// Reset starts session number session: time returns to before zero, the
// screen to mean gray, the calcium to its resting state, and the spike,
// noise, behaviour and imaging streams restart from keys derived from the
// Seed and session. The receptive fields are kept: it is the same mouse.
// The ground-truth history is emptied.
func (m *Mouse) Reset(session uint64) {
	n := m.n
	m.chunks = m.chunks[:0]
	for c, lo := 0, 0; lo < n; c, lo = c+1, lo+chunkSize {
		ch := chunk{lo: lo, hi: min(n, lo+chunkSize), planeSum: make([]float64, m.cfg.Planes)}
		ch.drive = make([]float64, ch.hi-ch.lo)
		for i := ch.lo; i < ch.hi; i++ {
			switch m.kind[i] {
			case complexCell:
				ch.complex = append(ch.complex, int32(i-lo))
			case dsCell:
				ch.ds = append(ch.ds, int32(i-lo))
			}
		}
		if c == 0 {
			ch.spikeSrc = rand.NewPCG(m.cfg.Seed, 2*session+1)
		} else {
			ch.spikeSrc = rand.NewPCG(m.cfg.Seed, streamKey(session, uint64(16+2*c)))
		}
		ch.spikes = rand.New(ch.spikeSrc)
		ch.gain = rand.New(rand.NewPCG(m.cfg.Seed, streamKey(session, uint64(17+2*c))))
		if c == 0 {
			ch.noise = rand.New(rand.NewPCG(m.cfg.Seed, 2*session+2))
		} else {
			ch.noise = rand.New(rand.NewPCG(m.cfg.Seed, streamKey(session, noiseStream|uint64(c))))
		}
		m.chunks = append(m.chunks, ch)
	}
	m.behRNG = rand.New(rand.NewPCG(m.cfg.Seed, streamKey(session, 1)))
	m.imgRNG = rand.New(rand.NewPCG(m.cfg.Seed, streamKey(session, 2)))
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
	m.acc = make([]float32, 2*n)
	m.events, m.head, m.projected, m.free, m.freeGrids = nil, 0, 0, nil, nil
	gridLen := m.cfg.GridWidth * m.cfg.GridHeight
	m.grid = make([]float32, gridLen)
	m.shown = make([]float32, gridLen) // mean gray
	m.observed, m.lastT = false, 0
	m.nextScan = 0
	m.open = [2][]float32{}
	m.late = 0

	m.beh = newBehaviour(m.cfg.Behaviour, m.behRNG)
	m.gainLog = make([]float64, n)
	m.gainFactor = make([]float64, n)
	m.drift = make([]float64, n)
	gsd := m.cfg.GainNoiseSD
	for i := range n {
		m.gainLog[i] = gsd * m.imgRNG.NormFloat64()
		m.gainFactor[i] = math.Exp(m.gainLog[i] - gsd*gsd/2)
		m.drift[i] = m.cfg.DriftSD * m.imgRNG.NormFloat64()
	}
	m.dsRing = make([]float64, m.dsLen)
	m.dsPos = make([]int32, n)
	m.npOU = make([]float64, m.cfg.Planes)
	for p := range m.npOU {
		m.npOU[p] = m.cfg.NeuropilSD * m.imgRNG.NormFloat64()
	}
	m.neuropil = slices.Clone(m.npOU)
	m.planeSum = make([]float64, m.cfg.Planes)
	m.spikeAcc = make([]uint16, n)
	m.truthOpen = [2]*Truth{}
	m.pending = m.pending[:0]
	m.truth = make([]Truth, m.cfg.TruthHistory)
	for k := range m.truth {
		m.truth[k].Index = -1
	}
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

// BehaviourStats returns the statistics Scans uses to z-score behaviour.
func (m *Mouse) BehaviourStats() BehaviourStats { return m.stats }

// VolumeRateHz returns the scan rate: ImagingRateHz / Planes.
func (m *Mouse) VolumeRateHz() float64 { return m.cfg.ImagingRateHz / float64(m.cfg.Planes) }

// LateFrames counts the frames of this session that arrived after the
// simulation had passed their time (see Observe).
func (m *Mouse) LateFrames() int64 { return m.late }

// ScanTime returns the session time of scan (volume) k: k * Planes /
// ImagingRateHz, rounded to the nanosecond.
func (m *Mouse) ScanTime(k int64) time.Duration {
	return time.Duration(math.Round(float64(k) * float64(m.cfg.Planes) * 1e9 / m.cfg.ImagingRateHz))
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
	m.events = append(m.events, event{t: ts, grid: append(pop(&m.freeGrids)[:0], m.shown...)})
	return nil
}

// pop takes a buffer from a free list, or returns nil.
func pop(free *[][]float32) []float32 {
	k := len(*free)
	if k == 0 {
		return nil
	}
	b := (*free)[k-1]
	*free = (*free)[:k-1]
	return b
}

// Scans simulates up to until and returns, in order, every scan (imaging
// volume; one frame when Planes is 1) whose Time is <= until and that no
// earlier call returned (none when until < 0). Values holds dF/F per
// neuron; Behaviour the z-scored behaviour at the scan's Time (see
// BehaviourStats). Frames not yet observed are taken to continue the last
// one observed, so call Observe for the frames up to until first. The cost
// grows with until minus the previous call's until.
func (m *Mouse) Scans(until time.Duration) []rig.Scan {
	var out []rig.Scan
	for {
		k := m.nextScan
		st := m.ScanTime(k)
		if st > until {
			m.flushSamples()
			return out
		}
		for m.b < k*int64(m.steps) {
			m.step()
		}
		buf := m.open[k&1]
		m.open[k&1] = nil
		state := m.beh.state()
		z := m.stats.ZScore(state)
		out = append(out, rig.Scan{Index: k, Time: st, Values: buf,
			Behaviour: rig.Behaviour{PupilX: z[0], PupilY: z[1], PupilRadius: z[2], Treadmill: z[3]}})
		if tr := m.truthOpen[k&1]; tr != nil {
			m.truthOpen[k&1] = nil
			tr.Index, tr.Time, tr.Behaviour = k, st, state
			m.truth[k%int64(len(m.truth))] = *tr
		}
		m.nextScan++
	}
}

// step simulates from boundary b to b+1 and samples the neurons whose
// sample time falls in the new boundary's slot.
func (m *Mouse) step() {
	t0 := float64(m.b) * m.dt
	t1 := t0 + m.dt

	// The frames on screen during [t0, t1), each with the fraction of the
	// step it lasted (none: the frame on screen stays for the whole step).
	m.segments, m.retired = m.segments[:0], m.retired[:0]
	if m.head < len(m.events) && m.events[m.head].t < t1 {
		last := m.head
		for last < len(m.events) && m.events[last].t < t1 {
			last++
		}
		m.prepare(last)
		from := t0
		for ; m.head < last; m.head++ {
			e := &m.events[m.head]
			at := max(e.t, from)
			if w := (at - from) / m.dt; w > 0 {
				m.segments = append(m.segments, segment{w: w, proj: m.cur})
			}
			from = at
			m.retired = append(m.retired, m.cur)
			m.cur = e.proj
			*e = event{}
		}
		m.segments = append(m.segments, segment{w: (t1 - from) / m.dt, proj: m.cur})
		if m.head == len(m.events) {
			m.events, m.head, m.projected = m.events[:0], 0, 0
		}
	}

	// Behaviour: the state over this step sets the modulation.
	m.beh.advance(m.dt, m.behRNG)
	bs := m.beh.state()
	m.run = bs.Speed / m.cfg.Behaviour.RunSpeed
	zr := (bs.PupilRadius - m.stats.Mean.PupilRadius) / m.stats.SD.PupilRadius
	m.modulation = m.cfg.Behaviour.PupilGain * min(3, max(-2, zr))

	// The gain noise moves on every gainEvery steps.
	updateGain := m.cfg.GainNoiseSD > 0 && (m.b%int64(m.gainEvery) == 0)
	m.parallel(len(m.chunks), func(c int) {
		m.runSamples(c)
		ch := &m.chunks[c]
		for k, src := range m.batches[:len(m.batchOut)] {
			m.bank.project(src, ch.lo, ch.hi, m.n, &m.batchOut[k])
		}
		m.stepChunk(ch, m.average(ch), updateGain)
	})
	m.pending = m.pending[:0]
	m.free = append(m.free, m.retired...)
	m.freeGrids = append(m.freeGrids, m.spentGrids...)
	m.batchOut, m.spentGrids = m.batchOut[:0], m.spentGrids[:0]
	clear(m.planeSum)
	for c := range m.chunks {
		for p, v := range m.chunks[c].planeSum {
			m.planeSum[p] += v
		}
	}
	npDrive := m.cfg.NeuropilSD * math.Sqrt(1-m.npKeep*m.npKeep)
	for p := range m.npOU {
		if npDrive > 0 {
			m.npOU[p] = m.npKeep*m.npOU[p] + npDrive*m.imgRNG.NormFloat64()
		}
		m.neuropil[p] = m.npOU[p]
		if m.planeCount[p] > 0 {
			m.neuropil[p] += m.planeSum[p] / m.planeCount[p]
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

// prepare sets up this step's projection passes (batches, batchOut) for
// the events before last not yet projected, filling each pass's lanes with
// the events queued after them: each gets its filter-output buffer now,
// filled during the step's parallel pass. Their grids are spent then.
func (m *Mouse) prepare(last int) {
	for pass := 0; m.projected < last; pass++ {
		if pass == len(m.batches) {
			m.batches = append(m.batches, make([]vec, m.bank.sourceLen()))
		}
		end := min(len(m.events), m.projected+lanes)
		var out [lanes][]float32
		first := len(m.spentGrids)
		for l := range end - m.projected {
			e := &m.events[m.projected+l]
			e.proj = pop(&m.free)
			if e.proj == nil {
				e.proj = make([]float32, 2*m.n)
			}
			out[l] = e.proj
			m.spentGrids = append(m.spentGrids, e.grid)
			e.grid = nil
		}
		m.bank.frameSource(m.spentGrids[first:], m.spec, m.specBuf, m.batches[pass])
		m.batchOut = append(m.batchOut, out)
		m.projected = end
	}
}

// average writes into m.acc, for chunk ch's neurons, the filter outputs
// averaged over the step when frames changed during it: the segments'
// outputs weighted by their durations (summed in float64). It returns
// m.acc, or m.cur when no frame began during the step.
func (m *Mouse) average(ch *chunk) []float32 {
	if len(m.segments) == 0 {
		return m.cur
	}
	n := m.n
	for _, r := range [2][2]int{{ch.lo, ch.hi}, {n + ch.lo, n + ch.hi}} {
		acc := m.acc[r[0]:r[1]]
		if len(m.segments) == 2 { // the common case: one frame began
			w0, w1 := m.segments[0].w, m.segments[1].w
			p0 := m.segments[0].proj[r[0]:r[1]][:len(acc)]
			p1 := m.segments[1].proj[r[0]:r[1]][:len(acc)]
			for i := range acc {
				acc[i] = float32(w0*float64(p0[i]) + w1*float64(p1[i]))
			}
			continue
		}
		for i := range acc {
			var sum float64
			for _, sg := range m.segments {
				sum += sg.w * float64(sg.proj[r[0]+i])
			}
			acc[i] = float32(sum)
		}
	}
	return m.acc
}

// stepChunk runs one step of the neurons in chunk ch. in holds the filter
// outputs over the step (see average).
func (m *Mouse) stepChunk(ch *chunk, in []float32, updateGain bool) {
	lo, hi := ch.lo, ch.hi
	keep, take := m.keep, 1-m.keep
	gsd := m.cfg.GainNoiseSD
	gainKeep := math.Pow(m.gainKeep, float64(m.gainEvery))
	gainDrive := gsd * math.Sqrt(1-gainKeep*gainKeep)
	gainMean := -gsd * gsd / 2 // so that the gain's mean is 1
	amp := m.cfg.SpikeAmplitude
	baseline, maxRate, dt := m.cfg.BaselineRateHz, m.cfg.MaxRateHz, m.dt
	decay, rise, spikeScale, spikeCap := m.decay, m.rise, m.spikeScale, m.spikeCap
	run, modulation := m.run, m.modulation
	spikeSrc := ch.spikeSrc
	// Local views of this chunk's state: fewer loads, fewer bounds checks.
	accE, accO := in[lo:hi], in[m.n+lo:m.n+hi]
	ye, yo := m.ye[lo:hi], m.yo[lo:hi]
	ye, yo = ye[:len(accE)], yo[:len(accE)]
	c50, th := m.c50[lo:hi][:len(accE)], m.threshold[lo:hi][:len(accE)]
	rect0, pps := m.rect0[lo:hi][:len(accE)], m.peakPerSpan[lo:hi][:len(accE)]
	runGain := m.runGain[lo:hi][:len(accE)]
	gainLog, gainFactor := m.gainLog[lo:hi][:len(accE)], m.gainFactor[lo:hi][:len(accE)]
	rate, spikeAcc := m.rate[lo:hi][:len(accE)], m.spikeAcc[lo:hi][:len(accE)]
	cd, cr := m.cd[lo:hi][:len(accE)], m.cr[lo:hi][:len(accE)]
	plane := m.plane[lo:hi][:len(accE)]
	planeSum := ch.planeSum
	clear(planeSum)
	// The drive, in passes by cell type (fewer mispredicted branches).
	drive := ch.drive[:len(accE)]
	for j := range accE {
		e := keep*ye[j] + take*float64(accE[j])
		ye[j] = e
		drive[j] = e
	}
	for _, j := range ch.complex {
		o := keep*yo[j] + take*float64(accO[j])
		yo[j] = o
		e := ye[j]
		drive[j] = math.Sqrt(e*e + o*o)
	}
	for _, j := range ch.ds {
		o := keep*yo[j] + take*float64(accO[j])
		yo[j] = o
		e := ye[j]
		i := lo + int(j)
		pos := m.dsPos[i]
		at := int(m.dsOff[i]) + 2*int(pos)
		if pos++; pos == m.dsDelay[i] {
			pos = 0
		}
		m.dsPos[i] = pos
		ed, od := m.dsRing[at], m.dsRing[at+1]
		m.dsRing[at], m.dsRing[at+1] = e, o
		s := m.dsSign[i]
		a := e + s*od
		b := s*o - ed
		drive[j] = math.Sqrt(a*a+b*b) / 2
	}
	if gsd > 0 && updateGain {
		for j := range gainLog {
			gainLog[j] = gainKeep*gainLog[j] + gainDrive*ch.gain.NormFloat64()
			gainFactor[j] = math.Exp(gainLog[j] + gainMean)
		}
	}
	for j, x := range drive {
		r := baseline
		if x != 0 {
			c := c50[j]
			ax := x
			if ax < 0 {
				ax = -ax
			}
			x = x * (1 + c) / (ax + c)
			r += pps[j] * (rectify(x-th[j]) - rect0[j])
		}
		g := 1 + runGain[j]*run + modulation
		if gsd > 0 {
			g *= gainFactor[j]
		}
		r *= g
		if r < 0 {
			r = 0
		}
		if r > maxRate {
			r = maxRate
		}
		rate[j] = r
		// poisson(spikeSrc, ch.spikes, r*dt), with its common case (lam
		// <= 30, no spike: 1-u >= lam) inlined.
		k := 0
		if lam := r * dt; lam > 30 {
			k = poisson(spikeSrc, ch.spikes, lam)
		} else if lam > 0 {
			if p := float64(spikeSrc.Uint64()<<11>>11) / (1 << 53); 1-p < lam {
				k = poissonCount(spikeSrc, p, lam)
			}
		}
		if k > 0 {
			if spikeCap > 0 && k > spikeCap {
				k = spikeCap
			}
			spikeAcc[j] = uint16(min(math.MaxUint16, int(spikeAcc[j])+k))
		}
		ca := decay*cd[j] + float64(k)*spikeScale
		cd[j] = ca
		if rise > 0 {
			r := rise*cr[j] + float64(k)*spikeScale
			cr[j] = r
			ca -= r
		}
		planeSum[plane[j]] += amp * ca
	}
}

// parallel runs f(0), ..., f(jobs-1) on up to Config.Workers (or
// GOMAXPROCS) goroutines, the caller's included, and waits for them. Each
// goroutine takes the next job not yet taken until none is left, so one
// that starts late (a busy machine) takes fewer. Each job must touch only
// its own data, so the results do not depend on how many goroutines run or
// in what order.
func (m *Mouse) parallel(jobs int, f func(int)) {
	workers := m.cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(jobs, workers)
	if workers <= 1 {
		for j := range jobs {
			f(j)
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for j := int(next.Add(1) - 1); j < jobs; j = int(next.Add(1) - 1) {
			f(j)
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// pendingSample is the sampling of a lag group into a scan, left for the
// next parallel pass over the chunks (see runSamples).
type pendingSample struct {
	back int
	k    int64     // the scan; < 0: only restart the group's spike counts
	buf  []float32 // the scan's values
	tr   *Truth    // the scan's truth, or nil
}

// sample queues the sampling of the neurons in lag group back into scan k:
// their state stays as it is now until the next step's parallel pass,
// which samples each chunk's part of the group before stepping it (or
// flushSamples does). Scans flushes the queue before returning.
func (m *Mouse) sample(back int, k int64) {
	if len(m.lagGroups[back]) == 0 {
		return
	}
	if k < 0 {
		// Before scan 0: only start the spike counts afresh, so that scan
		// 0 counts the spikes since the sample of a scan -1.
		m.pending = append(m.pending, pendingSample{back: back, k: k})
		return
	}
	buf := m.open[k&1]
	if buf == nil {
		buf = make([]float32, m.n)
		m.open[k&1] = buf
	}
	var tr *Truth
	if len(m.truth) > 0 {
		tr = m.truthOpen[k&1]
		if tr == nil {
			tr = &Truth{
				Rates:    make([]float32, m.n),
				Spikes:   make([]uint16, m.n),
				Calcium:  make([]float32, m.n),
				Neuropil: make([]float32, m.n),
				Drift:    make([]float32, m.n),
			}
			m.truthOpen[k&1] = tr
		}
	}
	m.pending = append(m.pending, pendingSample{back: back, k: k, buf: buf, tr: tr})
}

// runSamples carries out, in order, the queued samples' parts in chunk c.
func (m *Mouse) runSamples(c int) {
	ch := &m.chunks[c]
	for _, ps := range m.pending {
		cuts := m.groupCuts[ps.back]
		group := m.lagGroups[ps.back][cuts[c]:cuts[c+1]]
		if ps.k < 0 {
			for _, i := range group {
				m.spikeAcc[i] = 0
			}
			continue
		}
		m.sampleNeurons(group, ch.noise, ps.k%m.driftEvery == 0, ps.buf, ps.tr)
	}
}

// flushSamples carries out the queued samples now.
func (m *Mouse) flushSamples() {
	if len(m.pending) == 0 {
		return
	}
	m.parallel(len(m.chunks), m.runSamples)
	m.pending = m.pending[:0]
}

// sampleNeurons records the dF/F of neurons, all of one chunk, into buf
// (and their truth into tr unless nil), moving their drift first if
// moveDrift. The chunk's noise stream serves them in order, each neuron
// its drift's normal draw (if any) then its noise's.
func (m *Mouse) sampleNeurons(neurons []int, noise *rand.Rand, moveDrift bool, buf []float32, tr *Truth) {
	cfg := &m.cfg
	driftDrive := 0.0
	if moveDrift {
		driftDrive = cfg.DriftSD * math.Sqrt(1-m.driftKeep*m.driftKeep)
	}
	amp, sd, coef := cfg.SpikeAmplitude, cfg.NoiseSD, cfg.NeuropilCoef
	for _, i := range neurons {
		c := m.cd[i] * m.sampleDecay[i]
		if m.rise > 0 {
			c -= m.cr[i] * m.sampleRise[i]
		}
		if driftDrive > 0 {
			m.drift[i] = m.driftKeep*m.drift[i] + driftDrive*noise.NormFloat64()
		}
		cell := amp * c
		np := m.neuropil[m.plane[i]]
		v := cell + coef*np + m.drift[i]
		if sd > 0 {
			s := sd
			if cfg.ShotNoise {
				f := 1 + v
				if f < 0.05 {
					f = 0.05
				}
				s *= math.Sqrt(f)
			}
			v += s * noise.NormFloat64()
		}
		buf[i] = float32(v)
		if tr != nil {
			tr.Rates[i] = float32(m.rate[i])
			tr.Spikes[i] = m.spikeAcc[i]
			tr.Calcium[i] = float32(cell)
			tr.Neuropil[i] = float32(np)
			tr.Drift[i] = float32(m.drift[i])
		}
		m.spikeAcc[i] = 0
	}
}

// rectify is the smooth rectifier (x + sqrt(x^2 + knee^2)) / 2: about 0
// well below zero, about x well above, knee/2 at zero. It is a softplus in
// shape that costs one square root.
func rectify(x float64) float64 {
	return (x + math.Sqrt(x*x+rectifierKnee*rectifierKnee)) / 2
}

// poisson draws a Poisson count with mean lam, from src (rng draws from
// src too): Knuth's product of uniforms for small means, a rounded normal
// approximation above 30. The first uniform decides "no spike" without
// computing exp(-lam) when it can: the count is 0 when 1-u < 1-exp(-lam),
// which holds whenever 1-u >= lam. The uniforms are rand.Rand.Float64's,
// drawn from src directly (a cheaper call, the same values).
func poisson(src *rand.PCG, rng *rand.Rand, lam float64) int {
	if lam <= 0 {
		return 0
	}
	if lam > 30 {
		return max(0, int(math.Round(lam+math.Sqrt(lam)*rng.NormFloat64())))
	}
	p := uniform(src)
	if 1-p >= lam {
		return 0
	}
	return poissonCount(src, p, lam)
}

// poissonCount finishes poisson's product of uniforms from its first
// factor p.
func poissonCount(src *rand.PCG, p, lam float64) int {
	limit := math.Exp(-lam)
	k := 0
	for ; p > limit; p *= uniform(src) {
		k++
	}
	return k
}

// uniform returns a uniform float64 in [0, 1) from src: the value
// rand.Rand.Float64 would return, 53 random bits over 2^53.
func uniform(src *rand.PCG) float64 {
	return float64(src.Uint64()<<11>>11) / (1 << 53)
}
