package verify

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// Kind says what a condition is: an MEI or a control.
type Kind string

// The kinds of condition.
const (
	KindMEI     Kind = "mei"
	KindControl Kind = "control"
)

// NameMEI is the name of a target's first MEI; further MEIs are named
// "mei-2", "mei-3" and so on. Controls are named after the verify block's
// control stimuli (protocols.Control: best_natural, best_gabor, blank...);
// any other name is accepted too.
const NameMEI = "mei"

// Target names a target neuron: its id in the session and its index in the
// acquisition's neuron order.
type Target struct {
	ID    string
	Index int
}

// Condition names a stimulus condition shown to a target.
type Condition struct {
	Name string
	Kind Kind
}

// MEI returns the MEI condition with the given name ("mei", "mei-2"...).
func MEI(name string) Condition { return Condition{Name: name, Kind: KindMEI} }

// Control returns the control condition with the given name (a
// protocols.Control's, for the standard ones).
func Control(name string) Condition { return Condition{Name: name, Kind: KindControl} }

// StandardControls are the three controls of the verification design: the
// target's best natural clip, its best Gabor and a blank screen.
func StandardControls() []Condition {
	return []Condition{
		Control(string(protocols.ControlBestNatural)),
		Control(string(protocols.ControlBestGabor)),
		Control(string(protocols.ControlBlank)),
	}
}

// DefaultAlpha is the significance level used when Options.Alpha is zero.
const DefaultAlpha = 0.05

// Options configure an Accumulator.
type Options struct {
	// Alpha is the level every Holm-corrected p value must be below for a
	// target to be significant; 0 means DefaultAlpha.
	Alpha float64
}

// Accumulator collects per-trial responses and scores them (see the
// package documentation). It is safe for concurrent use: trials may be
// added from one goroutine while another calls Result.
type Accumulator struct {
	alpha float64

	mu      sync.Mutex
	targets map[string]*targetData
	kinds   map[string]Kind // every condition name seen, on any target
}

type targetData struct {
	index      int
	conditions map[string]*conditionData
}

type conditionData struct {
	kind   Kind
	trials map[int]float64 // value by repeat
}

// NewAccumulator returns an empty accumulator. Errors wrap rig.ErrInvalid.
func NewAccumulator(opts Options) (*Accumulator, error) {
	alpha := opts.Alpha
	if alpha == 0 {
		alpha = DefaultAlpha
	}
	if !(alpha > 0 && alpha < 1) {
		return nil, fmt.Errorf("verify: alpha %v, expected in (0, 1): %w", opts.Alpha, rig.ErrInvalid)
	}
	return &Accumulator{alpha: alpha, targets: map[string]*targetData{}, kinds: map[string]Kind{}}, nil
}

// Plan registers a target and the conditions it will be shown, before any
// trial: a planned target or condition without trials appears in the
// result (as incomplete, or in the notes). Planning is optional and may be
// repeated; Add registers what it sees too. Errors wrap rig.ErrInvalid and
// change nothing.
func (a *Accumulator) Plan(target Target, conditions ...Condition) error {
	if err := checkTarget(target); err != nil {
		return err
	}
	for _, c := range conditions {
		if err := checkCondition(target, c); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkConsistent(target, conditions...); err != nil {
		return err
	}
	td := a.target(target)
	for _, c := range conditions {
		a.condition(td, c)
	}
	return nil
}

// Add records one trial: the response value of target to condition on the
// given repeat (repeat numbers only tell a condition's trials apart; they
// need not be contiguous). A NaN or infinite value, a repeat already
// recorded, a negative repeat, an empty id or name, an unknown kind, a
// target id seen before with another index or a condition name seen before
// with another kind (on any target: a name means one kind throughout) give
// an error wrapping rig.ErrInvalid that names the target and condition,
// and change nothing.
func (a *Accumulator) Add(target Target, cond Condition, repeat int, value float64) error {
	if err := checkTarget(target); err != nil {
		return err
	}
	if err := checkCondition(target, cond); err != nil {
		return err
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return fmt.Errorf("verify: target %q condition %q repeat %d: value %v, expected a finite number: %w",
			target.ID, cond.Name, repeat, value, rig.ErrInvalid)
	}
	if repeat < 0 {
		return fmt.Errorf("verify: target %q condition %q: repeat %d, expected >= 0: %w",
			target.ID, cond.Name, repeat, rig.ErrInvalid)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkConsistent(target, cond); err != nil {
		return err
	}
	if td := a.targets[target.ID]; td != nil {
		if cd := td.conditions[cond.Name]; cd != nil {
			if old, dup := cd.trials[repeat]; dup {
				return fmt.Errorf("verify: target %q condition %q: repeat %d already recorded (value %v): %w",
					target.ID, cond.Name, repeat, old, rig.ErrInvalid)
			}
		}
	}
	a.condition(a.target(target), cond).trials[repeat] = value
	return nil
}

func checkTarget(t Target) error {
	if t.ID == "" {
		return fmt.Errorf("verify: target with index %d has an empty id: %w", t.Index, rig.ErrInvalid)
	}
	return nil
}

func checkCondition(t Target, c Condition) error {
	if c.Name == "" {
		return fmt.Errorf("verify: target %q: condition with an empty name: %w", t.ID, rig.ErrInvalid)
	}
	if c.Kind != KindMEI && c.Kind != KindControl {
		return fmt.Errorf("verify: target %q condition %q: kind %q, expected %q or %q: %w",
			t.ID, c.Name, c.Kind, KindMEI, KindControl, rig.ErrInvalid)
	}
	return nil
}

// checkConsistent checks target and conditions against what was seen
// before and against each other. The caller holds a.mu.
func (a *Accumulator) checkConsistent(t Target, conds ...Condition) error {
	if td := a.targets[t.ID]; td != nil && td.index != t.Index {
		return fmt.Errorf("verify: target %q: index %d, but it was seen with index %d: %w",
			t.ID, t.Index, td.index, rig.ErrInvalid)
	}
	for i, c := range conds {
		seen, ok := a.kinds[c.Name]
		for _, prev := range conds[:i] {
			if prev.Name == c.Name {
				seen, ok = prev.Kind, true
			}
		}
		if ok && seen != c.Kind {
			return fmt.Errorf("verify: target %q condition %q: kind %q, but it was seen as %q: %w",
				t.ID, c.Name, c.Kind, seen, rig.ErrInvalid)
		}
	}
	return nil
}

// target returns the target's data, created if new. The caller holds a.mu.
func (a *Accumulator) target(t Target) *targetData {
	td := a.targets[t.ID]
	if td == nil {
		td = &targetData{index: t.Index, conditions: map[string]*conditionData{}}
		a.targets[t.ID] = td
	}
	return td
}

// condition returns the condition's data, created if new. The caller holds
// a.mu.
func (a *Accumulator) condition(td *targetData, c Condition) *conditionData {
	cd := td.conditions[c.Name]
	if cd == nil {
		cd = &conditionData{kind: c.Kind, trials: map[int]float64{}}
		td.conditions[c.Name] = cd
		a.kinds[c.Name] = c.Kind
	}
	return cd
}

// Result scores what has been added so far. It does not change the
// accumulator: scoring mid-session and adding more trials is fine. The
// result is the same whatever order the trials arrived in.
func (a *Accumulator) Result() *Result {
	a.mu.Lock()
	defer a.mu.Unlock()
	var controls []string
	for name, kind := range a.kinds {
		if kind == KindControl {
			controls = append(controls, name)
		}
	}
	res := &Result{Alpha: a.alpha, Controls: sortedControls(controls)}
	for id, td := range a.targets {
		res.Targets = append(res.Targets, a.score(id, td, res.Controls))
	}
	slices.SortFunc(res.Targets, func(x, y TargetResult) int {
		return cmp.Or(cmp.Compare(x.Index, y.Index), cmp.Compare(x.ID, y.ID))
	})
	res.Summary = summarise(res.Targets)
	return res
}

// sortedControls orders control names: the standard controls first, in the
// order of StandardControls, then the others by name.
func sortedControls(names []string) []string {
	rank := func(n string) int {
		switch n {
		case string(protocols.ControlBestNatural):
			return 0
		case string(protocols.ControlBestGabor):
			return 1
		case string(protocols.ControlBlank):
			return 2
		}
		return 3
	}
	slices.SortFunc(names, func(x, y string) int { return cmp.Or(cmp.Compare(rank(x), rank(y)), cmp.Compare(x, y)) })
	return names
}
