package movie

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/deconv"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/motion"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/traces"
	"github.com/twinrig/twinrig/rig"
)

// Config sets up a Pipeline. Zero fields take the defaults noted.
type Config struct {
	// Width and Height are the frame size in pixels (required).
	Width, Height int
	// Masks are the ROIs (required; their size must match).
	Masks *traces.Masks
	// Rate is the frame rate in frames per second (required, > 0).
	Rate float64
	// Gamma is the AR(1) calcium decay per frame, in (0, 1). When 0 it is
	// derived from DecayTau.
	Gamma float64
	// DecayTau is the indicator's decay time constant, used when Gamma is
	// 0. Default 1.25 s (GCaMP6s).
	DecayTau time.Duration
	// Motion configures motion correction (its Width and Height are set
	// from the Pipeline's). DisableMotion skips it (shift 0).
	Motion        motion.Config
	DisableMotion bool
	// Neuropil configures the neuropil annuli (Width and Height are set
	// from the Pipeline's).
	Neuropil traces.ExtractConfig
	// NeuropilCoef is the neuropil subtraction factor. Default 0.7; set
	// NoNeuropil to subtract nothing.
	NeuropilCoef float64
	NoNeuropil   bool
	// BaselineWindow is the maximin window. Default 60 s.
	BaselineWindow time.Duration
	// BaselineSmooth is the running mean applied before the maximin.
	// Default 1/3 s (at least one frame).
	BaselineSmooth time.Duration
	// BaselineFloor is the smallest dF/F denominator, in fluorescence
	// units. Default 1.
	BaselineFloor float32
	// Lambda and MinSpike configure the deconvolution (dF/F units); see
	// package deconv. MinSpike defaults to 0 (no threshold); 2 to 3 times
	// the dF/F noise s.d. removes most noise-driven events.
	Lambda, MinSpike float64
	// Lag is the deconvolution's lag in frames (0 = causal).
	Lag int
	// Now is the host clock. Default time.Now.
	Now func() time.Time
}

// Sample is the pipeline's output for one frame. Its slices belong to the
// Pipeline and are overwritten by the next Process call: Clone keeps one.
type Sample struct {
	// Seq numbers the frames processed, from 0.
	Seq uint64
	// SourceTime is the frame's timestamp as given by its source (for a
	// ScanImage TIFF, frameTimestamps_sec).
	SourceTime time.Duration
	// HostTime is the host clock when the sample was produced.
	HostTime time.Time
	// Shift is the frame's estimated displacement (see package motion).
	Shift motion.Shift
	// DFF holds each ROI's dF/F for this frame, in ROI order.
	DFF []float32
	// Activity holds each ROI's deconvolved activity for frame ActivitySeq
	// (= Seq - Lag); all zero and ActivityValid false for the first Lag
	// frames.
	Activity      []float32
	ActivitySeq   uint64
	ActivityValid bool
}

// Clone returns a copy of s whose slices are its own.
func (s Sample) Clone() Sample {
	s.DFF = append([]float32(nil), s.DFF...)
	s.Activity = append([]float32(nil), s.Activity...)
	return s
}

// Pipeline processes frames online. It is not safe for concurrent use; in
// steady state Process allocates nothing.
type Pipeline struct {
	cfg       Config
	mc        *motion.Corrector
	ex        *traces.Extractor
	base      *traces.Baseline
	dec       *deconv.Bank
	corrected []float32
	f, fneu   []float32
	fc, f0    []float32
	dff, act  []float32
	seq       uint64
}

// New checks cfg, fills in its defaults and builds a Pipeline. Every problem
// is reported (errors.Join), each wrapping rig.ErrInvalid.
func New(cfg Config) (*Pipeline, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("movie: "+format+": %w", append(args, rig.ErrInvalid)...))
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		bad("frame size %dx%d, want > 0", cfg.Width, cfg.Height)
	}
	if cfg.Masks == nil {
		bad("no Masks")
	}
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) {
		bad("Rate %v frames/s, want > 0", cfg.Rate)
	}
	if cfg.DecayTau == 0 {
		cfg.DecayTau = 1250 * time.Millisecond
	}
	if cfg.Gamma == 0 && cfg.DecayTau > 0 && cfg.Rate > 0 {
		cfg.Gamma = deconv.GammaFromTau(cfg.DecayTau.Seconds(), cfg.Rate)
	}
	if cfg.NeuropilCoef == 0 && !cfg.NoNeuropil {
		cfg.NeuropilCoef = 0.7
	}
	if cfg.NoNeuropil {
		cfg.NeuropilCoef = 0
	}
	if !(cfg.NeuropilCoef >= 0 && cfg.NeuropilCoef <= 2) {
		bad("NeuropilCoef %v, want 0 to 2", cfg.NeuropilCoef)
	}
	if cfg.BaselineWindow == 0 {
		cfg.BaselineWindow = 60 * time.Second
	}
	if cfg.BaselineSmooth == 0 {
		cfg.BaselineSmooth = time.Second / 3
	}
	if cfg.BaselineFloor == 0 {
		cfg.BaselineFloor = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	frames := func(d time.Duration) int { return max(1, int(math.Round(d.Seconds()*cfg.Rate))) }
	p := &Pipeline{cfg: cfg}
	if !cfg.DisableMotion {
		mcfg := cfg.Motion
		mcfg.Width, mcfg.Height = cfg.Width, cfg.Height
		mc, err := motion.New(mcfg)
		if err != nil {
			errs = append(errs, err)
		}
		p.mc = mc
	}
	ncfg := cfg.Neuropil
	ncfg.Width, ncfg.Height = cfg.Width, cfg.Height
	ex, err := traces.NewExtractor(cfg.Masks, ncfg)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	p.ex = ex
	n := ex.Len()
	win := frames(cfg.BaselineWindow)
	p.base, err = traces.NewBaseline(n, traces.BaselineConfig{Window: win, SmoothFrames: min(win, frames(cfg.BaselineSmooth)), Floor: cfg.BaselineFloor})
	if err != nil {
		errs = append(errs, err)
	}
	p.dec, err = deconv.NewBank(n, deconv.Config{Gamma: cfg.Gamma, Lambda: cfg.Lambda, MinSpike: cfg.MinSpike, Lag: cfg.Lag})
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p.corrected = make([]float32, cfg.Width*cfg.Height)
	p.f, p.fneu, p.fc, p.f0 = make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	p.dff, p.act = make([]float32, n), make([]float32, n)
	p.cfg = cfg
	return p, nil
}

// Config returns the configuration with defaults filled in.
func (p *Pipeline) Config() Config { return p.cfg }

// ROIs returns the ROI labels in the order of Sample.DFF and Activity.
func (p *Pipeline) ROIs() []string { return append([]string(nil), p.ex.IDs()...) }

// Corrected returns the last motion-corrected frame (shared; overwritten by
// the next Process call).
func (p *Pipeline) Corrected() []float32 { return p.corrected }

// Process runs one frame (Width*Height samples, row by row) taken at
// sourceTime through the pipeline. The Sample's slices are valid until the
// next call. A frame of the wrong size is rejected (rig.ErrInvalid) and
// does not advance Seq.
func (p *Pipeline) Process(frame []uint16, sourceTime time.Duration) (Sample, error) {
	if len(frame) != p.cfg.Width*p.cfg.Height {
		return Sample{}, fmt.Errorf("movie: frame of %d samples, want %d (%dx%d): %w", len(frame), p.cfg.Width*p.cfg.Height, p.cfg.Width, p.cfg.Height, rig.ErrInvalid)
	}
	var shift motion.Shift
	if p.mc != nil {
		var err error
		if shift, err = p.mc.Correct(p.corrected, frame); err != nil {
			return Sample{}, err
		}
	} else {
		dst := p.corrected[:len(frame)]
		for i, v := range frame {
			dst[i] = float32(v)
		}
	}
	if err := p.ex.Extract(p.f, p.fneu, p.corrected); err != nil {
		return Sample{}, err
	}
	r := float32(p.cfg.NeuropilCoef)
	for i := range p.fc {
		p.fc[i] = p.f[i] - r*p.fneu[i]
	}
	if err := p.base.Push(p.f0, p.dff, p.fc); err != nil {
		return Sample{}, err
	}
	ok, err := p.dec.Push(p.act, p.dff)
	if err != nil {
		return Sample{}, err
	}
	s := Sample{
		Seq:           p.seq,
		SourceTime:    sourceTime,
		HostTime:      p.cfg.Now(),
		Shift:         shift,
		DFF:           p.dff,
		Activity:      p.act,
		ActivityValid: ok,
	}
	if ok {
		s.ActivitySeq = p.seq - uint64(p.cfg.Lag)
	}
	p.seq++
	return s, nil
}
