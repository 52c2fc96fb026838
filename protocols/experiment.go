package protocols

import (
	"encoding/json"
	"errors"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/twinrig/twinrig/internal/yamldoc"
	"github.com/twinrig/twinrig/rig"
)

// ExperimentVersion is the format version of experiments: files with
// present, adapt, select and verify blocks. LoadExperiment also reads
// version 1 files (converted with FromProtocol).
const ExperimentVersion = 2

// Limits of an experiment, to catch typos before anything runs.
const (
	// MaxTrials bounds the trials of one present block.
	MaxTrials = 10000
	// MaxShown bounds the trials one present or verify block shows, all
	// repeats together.
	MaxShown = 1000000
	// MaxInterTrial bounds the blank between trials.
	MaxInterTrial = time.Hour
	// MaxTargets bounds the neurons one select block chooses.
	MaxTargets = 10000
	// MaxMEIs bounds the MEIs synthesised per target (images and videos).
	MaxMEIs = 16
	// MaxPool bounds the candidates of one select block's pool.
	MaxPool = 100000
	// MaxKeep bounds the pool items kept per target.
	MaxKeep = 100
	// MaxVideoDuration bounds a video MEI.
	MaxVideoDuration = 10 * time.Second
	// MaxShow bounds how long verify shows each stimulus.
	MaxShow = time.Minute
	// MaxIterations and MaxPopulation bound the synthesis search.
	MaxIterations = 10000
	MaxPopulation = 1024
)

// DefaultAlpha is a verify block's significance level when the file gives
// none (host/verify's default too).
const DefaultAlpha = 0.05

// Experiment is a parsed, validated protocol in the form of format version
// 2: a sequence of stages (blocks), each of one kind. Stimulus paths in it
// are absolute (version 2) or as written (version 1, converted).
type Experiment struct {
	// File is the name the protocol was loaded under.
	File string
	// Dir is the absolute directory of File, against which relative file
	// paths in stimulus specifications were resolved.
	Dir string
	// Version is the file's format version: 1 (converted by FromProtocol)
	// or ExperimentVersion.
	Version     int
	Name        string
	Description string
	// Blank is what the display shows between trials; by default
	// {"family":"blank"} (mean gray).
	Blank Stimulus
	// InterTrial is the default blank after each trial of present and
	// verify blocks (0: trials follow back to back).
	InterTrial time.Duration
	// Stages are the blocks, run in order.
	Stages []Stage
}

// Kind is the kind of a stage, written as its key in the file.
type Kind string

// The stage kinds.
const (
	// KindPresent shows stimuli and records the responses.
	KindPresent Kind = "present"
	// KindAdapt fits the model's readout to the recorded neurons.
	KindAdapt Kind = "adapt"
	// KindSelect chooses target neurons, ranks a candidate pool for them
	// with the adapted model and synthesises their MEIs.
	KindSelect Kind = "select"
	// KindVerify shows each target's MEIs among controls.
	KindVerify Kind = "verify"
)

// kinds lists the stage kinds in the order a closed loop uses them.
var kinds = []Kind{KindPresent, KindAdapt, KindSelect, KindVerify}

// Kinds returns the stage kinds in the order a closed loop uses them. The
// caller owns the slice.
func Kinds() []Kind { return slices.Clone(kinds) }

// Stage is one block of an experiment: Kind says which one of Present,
// Adapt, Select and Verify is set; the others are nil.
type Stage struct {
	Kind Kind
	// Name is unique in the experiment: letters, digits, '_', '.', '-'.
	Name    string
	Present *PresentBlock
	Adapt   *AdaptBlock
	Select  *SelectBlock
	Verify  *VerifyBlock
}

// PresentBlock shows its trials Repeats times; each repeat shows every
// trial once, in the order Order gives, each followed by InterTrial of the
// experiment's Blank.
type PresentBlock struct {
	Trials []Trial
	// Repeats is at least 1. A block shown at least twice gives the
	// trial-averaged measures (CC_abs, CC_max, CC_norm), each trial a clip.
	Repeats int
	Order   Order
	// Seed seeds the random order (Order.Permutation).
	Seed uint64
	// InterTrial is the blank after each trial (default the experiment's).
	InterTrial time.Duration
	// ResetPerTrial (model_reset: trial) resets the model's recurrent
	// state before every trial, so that each trial's prediction starts from
	// zero state like the model's training clips; its first burn-in frames
	// are then not scored. Default (model_reset: session): the state runs
	// on through the session.
	ResetPerTrial bool
}

// Trial is one stimulus shown for a duration.
type Trial struct {
	Duration time.Duration
	Stimulus Stimulus
}

// Frames returns how many display frames a trial lasts at rateHz, rounded
// to the nearest whole frame (at least one).
func (t Trial) Frames(rateHz float64) int {
	return max(int(t.Duration.Seconds()*rateHz+0.5), 1)
}

// Stimulus is a stimulus specification for the stimulus plugin.
type Stimulus struct {
	// Family is the spec's "family".
	Family string
	// Spec is the whole specification as a JSON object, "family" included.
	Spec json.RawMessage
	// Where the spec is written, for CheckStimuli (zero when not parsed
	// from a version 2 file).
	at    yamldoc.Pos
	field string
}

// Order is the order of trials within each repeat.
type Order string

// The orders.
const (
	// OrderFixed shows trials in the order written, every repeat.
	OrderFixed Order = "fixed"
	// OrderRandom shuffles the trials anew in each repeat, from the
	// block's seed: the same seed gives the same orders.
	OrderRandom Order = "random"
)

// Permutation returns the order in which n trials are shown in repeat
// (0-based) of a block seeded with seed: the identity for OrderFixed, a
// shuffle for OrderRandom that depends only on (seed, repeat, n). The
// shuffle is Fisher-Yates driven by a PCG generator seeded with (seed,
// repeat), drawing each index by multiply-shift; it is part of the format
// and will not change.
func (o Order) Permutation(n int, seed uint64, repeat int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	if o != OrderRandom {
		return p
	}
	src := rand.NewPCG(seed, uint64(repeat))
	for i := n - 1; i > 0; i-- {
		j, _ := bits.Mul64(src.Uint64(), uint64(i+1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Showing is one trial shown: which repeat, and which trial (an index into
// Trials).
type Showing struct {
	Repeat, Trial int
}

// Schedule lists the block's trials in the order they are shown, repeat
// after repeat.
func (b *PresentBlock) Schedule() []Showing {
	out := make([]Showing, 0, len(b.Trials)*b.Repeats)
	for rep := range b.Repeats {
		for _, t := range b.Order.Permutation(len(b.Trials), b.Seed, rep) {
			out = append(out, Showing{Repeat: rep, Trial: t})
		}
	}
	return out
}

// Duration returns the session time the block takes, blanks included.
func (b *PresentBlock) Duration() time.Duration {
	var d time.Duration
	for _, t := range b.Trials {
		d += t.Duration + b.InterTrial
	}
	return d * time.Duration(b.Repeats)
}

// AdaptBlock fits the model's readout to the recorded neurons.
type AdaptBlock struct {
	// From names the present blocks whose responses fit the readout, all
	// shown before. Default: every earlier present block shown once and not
	// held out.
	From []string
	// HoldOut names earlier present blocks, each repeated, left out of the
	// fit and scored with the adapted model (CC_norm).
	HoldOut []string
	// IndicatorDecay is the calcium indicator's decay time constant (1.25s
	// for GCaMP6s): the readout then predicts the indicator's signal. Zero:
	// it predicts the responses as they are.
	IndicatorDecay time.Duration
}

// SelectBlock chooses target neurons with the adapted model, ranks a pool
// of candidate stimuli for each and synthesises each target's most exciting
// inputs (MEIs).
type SelectBlock struct {
	Neurons    Targets
	Pool       Pool
	Synthesise Synthesis
}

// Score is the measure targets are ranked by.
type Score string

// The scores.
const (
	// ScoreCCNorm is CC_abs / CC_max over a repeated block's trials.
	ScoreCCNorm Score = "cc_norm"
	// ScoreCCAbs is the correlation of trial-averaged prediction and
	// response over a repeated block.
	ScoreCCAbs Score = "cc_abs"
	// ScoreR is the single-trial correlation over a block.
	ScoreR Score = "r"
)

// NeedsRepeats reports whether the score needs a repeated block.
func (s Score) NeedsRepeats() bool { return s == ScoreCCNorm || s == ScoreCCAbs }

// Targets says which neurons a select block targets: the Best neurons by
// a score over a present block, or the neurons listed by id. Exactly one of
// Best and IDs is set.
type Targets struct {
	// Best is how many neurons to take, highest score first (0: IDs).
	Best int
	// By is the score (default ScoreCCNorm).
	By Score
	// From names the present block the score is measured on: shown before
	// the select block, fitted by no adapt block, either held out by the
	// last adapt block before the select or shown after it, and repeated
	// when By needs repeats.
	From string
	// IDs are the recorded neurons' ids, unique.
	IDs []string
}

// Count returns how many targets are asked for.
func (t Targets) Count() int {
	if len(t.IDs) > 0 {
		return len(t.IDs)
	}
	return t.Best
}

// Pool is the candidate stimuli ranked for every target; a nil kind has
// none. At least one kind is set.
type Pool struct {
	Natural *NaturalPool
	Gabor   *GaborPool
	Noise   *NoisePool
	// Keep is how many of the best candidates are kept per target, to
	// warm-start synthesis and to serve as controls (default 4).
	Keep int
}

// Size returns the number of candidates in the pool.
func (p Pool) Size() int {
	n := 0
	if p.Natural != nil {
		n += p.Natural.Clips
	}
	if p.Gabor != nil {
		n += p.Gabor.Size()
	}
	if p.Noise != nil {
		n += p.Noise.Count
	}
	return n
}

// NaturalPool is Clips seeded clips of the natural family.
type NaturalPool struct {
	Clips    int           // default 200
	Duration time.Duration // each clip; default 1s
	Seed     uint64
}

// GaborPool is a grid of static Gabor patches: every orientation, spatial
// frequency, phase and size at every position of a Columns x Rows grid
// over the screen.
type GaborPool struct {
	Orientations int // evenly spaced over 180 degrees; default 8
	// CyclesPerWidth are the spatial frequencies, in cycles per screen
	// width; default [2.5, 4, 6.4].
	CyclesPerWidth []float64
	Phases         int // evenly spaced over 360 degrees; default 2
	// Sigmas are the Gaussian envelope's s.d.s, in carrier periods (so a
	// patch has as many stripes at every spatial frequency); default [0.4].
	Sigmas []float64
	// Columns and Rows are the grid of positions; default 7 x 4.
	Columns, Rows int
	Seed          uint64
}

// Size returns the number of Gabor patches.
func (g *GaborPool) Size() int {
	return g.Orientations * len(g.CyclesPerWidth) * g.Phases * len(g.Sigmas) * g.Columns * g.Rows
}

// NoisePool is Count seeded static noise images.
type NoisePool struct {
	Count int // default 100
	Seed  uint64
}

// Synthesis configures the synthesis of MEIs: per target, Images static
// images and Videos short videos, each under a mean-luminance and RMS
// contrast constraint, found by a gradient-free search (Iterations
// generations of Population candidates), the k-th MEI of a target
// penalised by Diversity times its similarity to the earlier ones.
type Synthesis struct {
	Images        int           // default 1
	Videos        int           // default 0
	VideoDuration time.Duration // default 1s
	Contrast      float64       // RMS contrast, a fraction of 255; default 0.15
	Mean          float64       // mean luminance, 0..255; default 128
	Iterations    int           // default 20
	Population    int           // default 16
	Diversity     float64       // default 0.5
}

// MEIs returns the MEIs per target.
func (s Synthesis) MEIs() int { return s.Images + s.Videos }

// Control is a control stimulus of a verify block.
type Control string

// The controls.
const (
	// ControlBestNatural is the target's best natural clip of the pool.
	ControlBestNatural Control = "best_natural"
	// ControlBestGabor is the target's best Gabor of the pool.
	ControlBestGabor Control = "best_gabor"
	// ControlBestNoise is the target's best noise image of the pool.
	ControlBestNoise Control = "best_noise"
	// ControlBlank is the experiment's blank, shown once per repeat for all
	// targets.
	ControlBlank Control = "blank"
)

// PerTarget reports whether the control is chosen for each target.
func (c Control) PerTarget() bool { return c != ControlBlank }

// VerifyBlock shows each target's MEIs and controls, Repeats times, each
// for Duration followed by InterTrial of blank, in the order Order gives
// within each repeat.
type VerifyBlock struct {
	// Select names the select block whose targets and MEIs are verified.
	Select string
	// Controls are shown with the MEIs (default: the best of each kind in
	// the select block's pool, then blank).
	Controls   []Control
	Duration   time.Duration // default 1s
	Repeats    int           // default 10
	Order      Order         // default random
	Seed       uint64
	InterTrial time.Duration // default the experiment's
	// Alpha is the significance level: a target's MEI is significant when
	// every Holm-corrected p value of its tests against the controls is
	// below it. In (0, 0.5); DefaultAlpha when the file gives none, and
	// taken as DefaultAlpha when zero (a VerifyBlock built in code).
	Alpha float64
}

// TrialsPerRepeat returns how many stimuli one repeat shows for targets
// neurons with meis MEIs each: per target its MEIs and per-target controls,
// plus one blank for all when blank is a control.
func (v *VerifyBlock) TrialsPerRepeat(targets, meis int) int {
	perTarget, shared := meis, 0
	for _, c := range v.Controls {
		if c.PerTarget() {
			perTarget++
		} else {
			shared++
		}
	}
	return targets*perTarget + shared
}

// Find returns the stage called name, or nil.
func (e *Experiment) Find(name string) *Stage {
	for i := range e.Stages {
		if e.Stages[i].Name == name {
			return &e.Stages[i]
		}
	}
	return nil
}

// Adapts reports whether any stage adapts the model.
func (e *Experiment) Adapts() bool {
	for _, s := range e.Stages {
		if s.Kind == KindAdapt {
			return true
		}
	}
	return false
}

// Duration returns the session time the stimuli take: every present block,
// and every verify block for as many targets as its select block asks for
// (fewer neurons give a shorter session). Adaptation and synthesis take no
// session time on the virtual clock; on the real clock they add their
// computing time.
func (e *Experiment) Duration() time.Duration {
	var d time.Duration
	for _, s := range e.Stages {
		switch s.Kind {
		case KindPresent:
			d += s.Present.Duration()
		case KindVerify:
			v := s.Verify
			sel := e.Find(v.Select)
			if sel == nil || sel.Select == nil {
				continue
			}
			n := v.TrialsPerRepeat(sel.Select.Neurons.Count(), sel.Select.Synthesise.MEIs())
			d += time.Duration(n*v.Repeats) * (v.Duration + v.InterTrial)
		}
	}
	return d
}

// Stimuli returns every stimulus specification of the experiment: the
// blank, then each trial's in order.
func (e *Experiment) Stimuli() []Stimulus {
	out := []Stimulus{e.Blank}
	for _, s := range e.Stages {
		if s.Kind == KindPresent {
			for _, t := range s.Present.Trials {
				out = append(out, t.Stimulus)
			}
		}
	}
	return out
}

// CheckStimuli runs check on every stimulus specification (see Stimuli)
// and reports each error it returns (each line of it) as a Problem at the
// spec's place in the file (line 1 for converted version 1 protocols), all joined; nil
// when check accepts them all. A stimulus library's validation (such as
// building the spec's sequence) fits here.
func (e *Experiment) CheckStimuli(check func(spec json.RawMessage) error) error {
	var errs []error
	for _, s := range e.Stimuli() {
		if err := check(s.Spec); err != nil {
			at, field := s.at, s.field
			if at.Line < 1 {
				at = yamldoc.Pos{Line: 1, Col: 1}
			}
			if field == "" {
				field = "stimulus"
			}
			for _, msg := range strings.Split(err.Error(), "\n") {
				msg = strings.TrimSuffix(strings.TrimSpace(msg), ": "+rig.ErrInvalid.Error())
				if msg != "" {
					errs = append(errs, &Problem{File: e.File, Line: at.Line, Column: at.Col, Field: field, Msg: msg})
				}
			}
		}
	}
	return errors.Join(errs...)
}
