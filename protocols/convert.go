package protocols

import (
	"encoding/json"
	"fmt"
	"path/filepath"
)

// FromProtocol converts a version 1 protocol into an Experiment that runs
// the same session: each block becomes a present block of one trial (its
// repeats and stimulus kept, fixed order, no blank between trials), and a
// block with adapt is followed by an adapt block named "<block>-adapt"
// (made unique with a number if taken) that fits on every earlier block
// shown once and holds out every earlier repeated block, as the version 1
// session does. Stimulus specifications are kept as written.
func FromProtocol(p *Protocol) *Experiment {
	dir, err := filepath.Abs(filepath.Dir(p.File))
	if err != nil {
		dir = filepath.Dir(p.File)
	}
	e := &Experiment{
		File: p.File, Dir: dir, Version: Version, Name: p.Name, Description: p.Description,
		Blank: Stimulus{Family: "blank", Spec: json.RawMessage(`{"family":"blank"}`)},
	}
	taken := map[string]bool{}
	for _, b := range p.Blocks {
		taken[b.Name] = true
	}
	for _, b := range p.Blocks {
		e.Stages = append(e.Stages, Stage{Kind: KindPresent, Name: b.Name, Present: &PresentBlock{
			Trials:  []Trial{{Duration: b.Duration, Stimulus: Stimulus{Family: family(b.Stimulus), Spec: b.Stimulus}}},
			Repeats: max(b.Repeats, 1),
			Order:   OrderFixed,
		}})
		if b.Adapt == nil {
			continue
		}
		a := &AdaptBlock{IndicatorDecay: b.Adapt.IndicatorDecay}
		for _, s := range e.Stages {
			switch {
			case s.Kind != KindPresent:
			case s.Present.Repeats > 1:
				a.HoldOut = append(a.HoldOut, s.Name)
			default:
				a.From = append(a.From, s.Name)
			}
		}
		name := b.Name + "-adapt"
		for i := 2; taken[name]; i++ {
			name = fmt.Sprintf("%s-adapt-%d", b.Name, i)
		}
		taken[name] = true
		e.Stages = append(e.Stages, Stage{Kind: KindAdapt, Name: name, Adapt: a})
	}
	return e
}

// family returns the "family" of a stimulus specification.
func family(spec json.RawMessage) string {
	var s struct {
		Family string `json:"family"`
	}
	_ = json.Unmarshal(spec, &s) // a parsed spec always holds a family
	return s.Family
}
