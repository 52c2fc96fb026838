package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// Indicator is a calcium indicator's kinetics: the rise and decay time
// constants of the double-exponential response to one spike.
type Indicator struct {
	// Name is for reports only.
	Name string
	// Rise is the rise time constant; 0 means an instantaneous rise.
	Rise time.Duration
	// Decay is the decay time constant; it must exceed Rise.
	Decay time.Duration
}

// indicators are the presets, approximate literature values meant as
// defaults, not constants: GCaMP6s half-rise ~100 ms and decay ~1.25 s,
// 6m ~1.0 s, 6f ~0.7 s, jGCaMP8m a few ms rise and ~0.3 s decay.
var indicators = []Indicator{
	{Name: "6f", Rise: 50 * time.Millisecond, Decay: 700 * time.Millisecond},
	{Name: "6m", Rise: 80 * time.Millisecond, Decay: 1000 * time.Millisecond},
	{Name: "6s", Rise: 100 * time.Millisecond, Decay: 1250 * time.Millisecond},
	{Name: "8m", Rise: 5 * time.Millisecond, Decay: 300 * time.Millisecond},
}

// IndicatorNames lists the indicator presets IndicatorPreset knows, sorted.
func IndicatorNames() []string {
	names := make([]string, len(indicators))
	for i, ind := range indicators {
		names[i] = ind.Name
	}
	return names
}

// IndicatorPreset returns the kinetics of a GCaMP variant: "6s", "6m",
// "6f" or "8m" (a leading "GCaMP" or "jGCaMP" is accepted, in any case).
// An unknown name gives an error wrapping rig.ErrInvalid that lists the
// known ones.
func IndicatorPreset(name string) (Indicator, error) {
	key := strings.ToLower(name)
	key = strings.TrimPrefix(strings.TrimPrefix(key, "j"), "gcamp")
	for _, ind := range indicators {
		if ind.Name == key {
			return ind, nil
		}
	}
	return Indicator{}, fmt.Errorf("indicator %q is not known, want one of %s: %w", name, strings.Join(IndicatorNames(), ", "), rig.ErrInvalid)
}

// Config describes a simulated mouse. Start from DefaultConfig and change
// what you need; New rejects a Config that fails Validate.
type Config struct {
	// Neurons is the population size, 1..MaxNeurons.
	Neurons int
	// Seed determines the receptive fields and, with the session number,
	// the spikes and the noise.
	Seed uint64
	// ImagingRateHz is the imaging frame rate, (0, 1000].
	ImagingRateHz float64
	// StepsPerScan is how many simulation steps make one imaging frame,
	// 1..100. Spikes are drawn once per step.
	StepsPerScan int
	// Indicator sets the calcium kinetics.
	Indicator Indicator
	// SpikeAmplitude is the dF/F peak of one spike, >= 0.
	SpikeAmplitude float64
	// NoiseSD is the s.d. of the Gaussian noise added to every dF/F
	// sample, >= 0.
	NoiseSD float64
	// BaselineRateHz is the firing rate on a mean-gray screen, >= 0.
	BaselineRateHz float64
	// DrivenRateHz is the population's typical rate increase for a
	// full-contrast grating matched to a neuron's preferences (each
	// neuron's peak is drawn log-normally around it), >= 0.
	DrivenRateHz float64
	// MaxRateHz caps every neuron's rate, > 0, >= BaselineRateHz, <= 1000.
	MaxRateHz float64
	// ComplexFraction is the probability that a neuron is a complex cell,
	// [0, 1].
	ComplexFraction float64
	// IntegrationTau is the time constant of the temporal low-pass on the
	// receptive-field outputs, [0, 1 s]; 0 disables it.
	IntegrationTau time.Duration
	// GridWidth and GridHeight are the size of the grid every frame is
	// averaged onto before the receptive fields apply, 4..256 each. Grid
	// cells are taken as square, so the grid's aspect ratio should match the
	// frames' (32 x 18 for 256 x 144).
	GridWidth, GridHeight int

	// DSFraction is the probability that a neuron is direction selective,
	// [0, 1]; ComplexFraction + DSFraction must not exceed 1 (the rest are
	// simple cells).
	DSFraction float64
	// Planes is how many imaging planes make one volume, 1..MaxPlanes. Each
	// neuron lies on one plane; ImagingRateHz is the frame (plane) rate, so
	// volumes, and scans, come at ImagingRateHz / Planes.
	Planes int

	// Behaviour configures the running and pupil processes and how they
	// modulate the responses.
	Behaviour BehaviourConfig

	// RefractoryPeriod caps each neuron's spikes at one per period, [0,
	// 100ms]; 0 leaves the counts uncapped.
	RefractoryPeriod time.Duration
	// GainNoiseSD is the s.d., in natural-log units, of each neuron's
	// slowly fluctuating multiplicative gain (an Ornstein-Uhlenbeck process
	// with time constant GainNoiseTau), [0, 2]. Spikes are Poisson given the
	// gain-modulated rate, so counts are overdispersed (Fano factor > 1)
	// when it is above 0.
	GainNoiseSD float64
	// GainNoiseTau is the gain fluctuation's time constant, [10ms, 1m].
	GainNoiseTau time.Duration

	// NeuropilCoef is the weight of the neuropil signal in every ROI's
	// trace, [0, 2] (suite2p subtracts 0.7 of it).
	NeuropilCoef float64
	// NeuropilSD is the s.d. of the neuropil's own fluctuation, in dF/F,
	// finite and >= 0, on top of the mean activity of the plane's cells.
	NeuropilSD float64
	// NeuropilTau is the neuropil fluctuation's time constant, [10ms, 1m].
	NeuropilTau time.Duration
	// DriftSD is the s.d. of each ROI's baseline drift, in dF/F, finite and
	// >= 0; DriftTau (>= 1 s, <= 1h) its time constant.
	DriftSD  float64
	DriftTau time.Duration
	// ShotNoise makes the noise signal dependent: its s.d. is NoiseSD times
	// sqrt(F/F0), F/F0 = 1 + the noise-free trace (at least 0.05), instead
	// of NoiseSD at every level.
	ShotNoise bool

	// Workers is how many goroutines simulate the population, 0..64; 0
	// means GOMAXPROCS. The results do not depend on it. One is best when
	// the other cores are busy (e.g. with the model).
	Workers int

	// TruthHistory is how many of the latest scans' ground truth (see
	// Mouse.Truth) the mouse keeps, 0..MaxTruthHistory; 0 keeps none.
	TruthHistory int
}

// BehaviourConfig sets the simulated behaviour: a two-state (still,
// running) Markov process with a smooth treadmill speed, a pupil that
// dilates with running and fluctuates slowly, and a pupil centre that
// jumps in small saccades. See the package documentation.
type BehaviourConfig struct {
	// RunBout and StillBout are the mean durations of running and still
	// bouts, each in [100ms, 1h]; the fraction of time running is about
	// RunBout / (RunBout + StillBout).
	RunBout, StillBout time.Duration
	// RunSpeed is the mean treadmill speed while running, in cm/s, (0, 200].
	RunSpeed float64
	// RunningGain is the mean relative increase of the neurons' rates at
	// RunSpeed (0.5: 1.5 times), [0, 10]; each neuron's gain is drawn
	// log-normally around it.
	RunningGain float64
	// PupilGain is the relative rate increase per s.d. of pupil radius,
	// [0, 1].
	PupilGain float64
}

// MaxPlanes bounds Config.Planes.
const MaxPlanes = 32

// MaxTruthHistory bounds Config.TruthHistory.
const MaxTruthHistory = 1 << 20

// MaxNeurons bounds Config.Neurons.
const MaxNeurons = 100000

// DefaultConfig returns the default mouse: 100 neurons, seed 1, 30 Hz
// imaging of one plane with 2 steps per frame, GCaMP6s, 0.2 dF/F per spike,
// shot noise of s.d. 0.1 at baseline, 0.5 Hz baseline, 10 Hz driven, 50 Hz
// cap, 40 % complex and 20 % direction-selective cells, 60 ms integration, a
// 32 x 18 grid; running bouts of 8 s on average between 16 s still bouts at
// 15 cm/s, a running gain of 0.5 and a pupil gain of 0.1; a 2 ms refractory
// period and a gain noise of s.d. 0.2 (1 s); neuropil weight 0.7 with a
// 0.05 fluctuation (2 s); baseline drift of s.d. 0.05 (60 s); no ground
// truth history.
func DefaultConfig() Config {
	ind, _ := IndicatorPreset("6s")
	return Config{
		Neurons:         100,
		Seed:            1,
		ImagingRateHz:   30,
		StepsPerScan:    2,
		Indicator:       ind,
		SpikeAmplitude:  0.2,
		NoiseSD:         0.1,
		BaselineRateHz:  0.5,
		DrivenRateHz:    10,
		MaxRateHz:       50,
		ComplexFraction: 0.4,
		IntegrationTau:  60 * time.Millisecond,
		GridWidth:       32,
		GridHeight:      18,

		DSFraction: 0.2,
		Planes:     1,
		Behaviour: BehaviourConfig{
			RunBout:     8 * time.Second,
			StillBout:   16 * time.Second,
			RunSpeed:    15,
			RunningGain: 0.5,
			PupilGain:   0.1,
		},
		RefractoryPeriod: 2 * time.Millisecond,
		GainNoiseSD:      0.2,
		GainNoiseTau:     time.Second,
		NeuropilCoef:     0.7,
		NeuropilSD:       0.05,
		NeuropilTau:      2 * time.Second,
		DriftSD:          0.05,
		DriftTau:         time.Minute,
		ShotNoise:        true,
	}
}

// FieldError is one invalid Config field. Validate returns them joined;
// errors.As finds the first and the joined error's Unwrap() []error lists
// them all.
type FieldError struct {
	// Field is the Go name of the field ("Indicator.Decay").
	Field string
	// Value is the offending value.
	Value any
	// Want says what was expected.
	Want string
}

// Error returns "sim config: field F: V, want W".
func (e *FieldError) Error() string {
	return fmt.Sprintf("sim config: field %s: %v, want %s", e.Field, e.Value, e.Want)
}

// Unwrap returns rig.ErrInvalid.
func (e *FieldError) Unwrap() error { return rig.ErrInvalid }

// Validate checks every field and returns all problems joined, each a
// *FieldError wrapping rig.ErrInvalid, or nil.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, field string, value any, want string) {
		if !ok {
			errs = append(errs, &FieldError{Field: field, Value: value, Want: want})
		}
	}
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	check(c.Neurons >= 1 && c.Neurons <= MaxNeurons, "Neurons", c.Neurons, fmt.Sprintf("1 to %d", MaxNeurons))
	check(c.ImagingRateHz > 0 && c.ImagingRateHz <= 1000, "ImagingRateHz", c.ImagingRateHz, "in (0, 1000]")
	check(c.StepsPerScan >= 1 && c.StepsPerScan <= 100, "StepsPerScan", c.StepsPerScan, "1 to 100")
	check(c.Indicator.Rise >= 0, "Indicator.Rise", c.Indicator.Rise, ">= 0")
	check(c.Indicator.Decay > c.Indicator.Rise && c.Indicator.Decay <= time.Minute, "Indicator.Decay", c.Indicator.Decay,
		fmt.Sprintf("above Indicator.Rise (%v) and at most 1m", c.Indicator.Rise))
	check(finite(c.SpikeAmplitude) && c.SpikeAmplitude >= 0, "SpikeAmplitude", c.SpikeAmplitude, "finite and >= 0")
	check(finite(c.NoiseSD) && c.NoiseSD >= 0, "NoiseSD", c.NoiseSD, "finite and >= 0")
	check(finite(c.BaselineRateHz) && c.BaselineRateHz >= 0, "BaselineRateHz", c.BaselineRateHz, "finite and >= 0")
	check(finite(c.DrivenRateHz) && c.DrivenRateHz >= 0, "DrivenRateHz", c.DrivenRateHz, "finite and >= 0")
	check(c.MaxRateHz > 0 && c.MaxRateHz <= 1000 && c.MaxRateHz >= c.BaselineRateHz, "MaxRateHz", c.MaxRateHz,
		fmt.Sprintf("in (0, 1000] and >= BaselineRateHz (%v)", c.BaselineRateHz))
	check(c.ComplexFraction >= 0 && c.ComplexFraction <= 1, "ComplexFraction", c.ComplexFraction, "in [0, 1]")
	check(c.IntegrationTau >= 0 && c.IntegrationTau <= time.Second, "IntegrationTau", c.IntegrationTau, "in [0, 1s]")
	check(c.GridWidth >= 4 && c.GridWidth <= 256, "GridWidth", c.GridWidth, "4 to 256")
	check(c.GridHeight >= 4 && c.GridHeight <= 256, "GridHeight", c.GridHeight, "4 to 256")
	check(c.DSFraction >= 0 && c.DSFraction <= 1 && !(c.ComplexFraction+c.DSFraction > 1+1e-12 && c.ComplexFraction <= 1), "DSFraction", c.DSFraction,
		fmt.Sprintf("in [0, 1] and at most 1 - ComplexFraction (%v)", c.ComplexFraction))
	check(c.Planes >= 1 && c.Planes <= MaxPlanes, "Planes", c.Planes, fmt.Sprintf("1 to %d", MaxPlanes))
	b := c.Behaviour
	check(b.RunBout >= 100*time.Millisecond && b.RunBout <= time.Hour, "Behaviour.RunBout", b.RunBout, "in [100ms, 1h]")
	check(b.StillBout >= 100*time.Millisecond && b.StillBout <= time.Hour, "Behaviour.StillBout", b.StillBout, "in [100ms, 1h]")
	check(b.RunSpeed > 0 && b.RunSpeed <= 200, "Behaviour.RunSpeed", b.RunSpeed, "in (0, 200] cm/s")
	check(b.RunningGain >= 0 && b.RunningGain <= 10, "Behaviour.RunningGain", b.RunningGain, "in [0, 10]")
	check(b.PupilGain >= 0 && b.PupilGain <= 1, "Behaviour.PupilGain", b.PupilGain, "in [0, 1]")
	check(c.RefractoryPeriod >= 0 && c.RefractoryPeriod <= 100*time.Millisecond, "RefractoryPeriod", c.RefractoryPeriod, "in [0, 100ms]")
	check(c.GainNoiseSD >= 0 && c.GainNoiseSD <= 2, "GainNoiseSD", c.GainNoiseSD, "in [0, 2]")
	check(c.GainNoiseTau >= 10*time.Millisecond && c.GainNoiseTau <= time.Minute, "GainNoiseTau", c.GainNoiseTau, "in [10ms, 1m]")
	check(c.NeuropilCoef >= 0 && c.NeuropilCoef <= 2, "NeuropilCoef", c.NeuropilCoef, "in [0, 2]")
	check(finite(c.NeuropilSD) && c.NeuropilSD >= 0, "NeuropilSD", c.NeuropilSD, "finite and >= 0")
	check(c.NeuropilTau >= 10*time.Millisecond && c.NeuropilTau <= time.Minute, "NeuropilTau", c.NeuropilTau, "in [10ms, 1m]")
	check(finite(c.DriftSD) && c.DriftSD >= 0, "DriftSD", c.DriftSD, "finite and >= 0")
	check(c.DriftTau >= time.Second && c.DriftTau <= time.Hour, "DriftTau", c.DriftTau, "in [1s, 1h]")
	check(c.Workers >= 0 && c.Workers <= 64, "Workers", c.Workers, "0 (GOMAXPROCS) to 64")
	check(c.TruthHistory >= 0 && c.TruthHistory <= MaxTruthHistory, "TruthHistory", c.TruthHistory, fmt.Sprintf("0 to %d", MaxTruthHistory))
	return errors.Join(errs...)
}

// FieldErrors returns the *FieldError values inside err (as returned by
// Validate or New), in order.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			if x := u.Unwrap(); x != nil {
				walk(x)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return slices.Clip(out)
}
