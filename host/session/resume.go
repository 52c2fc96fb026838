package session

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// Resume is what an interrupted session completed, read back from its
// journal (the stage_done entries the engine records): a resumed session
// skips those stages and starts at the session time where the last of them
// ended. Stages complete as a whole: a stage cut short is run again from
// its start.
type Resume struct {
	// Done holds the completed stages, by name.
	Done map[string]DoneStage
	// From is the session time the resumed session starts at.
	From time.Duration
	// Readout is the readout file the last completed adapt stage saved
	// ("": none), restored into the model before anything runs.
	Readout string
	// Scores are the per-neuron scores of the repeated stages scored so
	// far (what a select stage chooses its targets by).
	Scores map[string]Scores
	// Selections are the completed select stages' targets and stimuli,
	// filled by the caller from the record (Options.Recorder wrote them).
	Selections map[string][]Target
}

// DoneStage is one completed stage's span of session time.
type DoneStage struct {
	Start, End time.Duration
}

// Scores are a repeated stage's per-neuron measures (NaN where undefined).
type Scores struct {
	CCNorm, CCAbs, R []float64
}

// ReadResume reads a session journal (journal.jsonl) for exp: its
// events.SessionEntry and events.StageDone entries, as the engine and the
// host wrote them (this version or earlier ones: the fields are the same).
// The protocol's SHA-256 in the session entry must be protocolSHA256 (a
// journal of another protocol is refused), and the completed stages must
// be a prefix of exp's stages. A line that does not parse (a torn last
// line after a crash) ends the reading; entries of other kinds are
// skipped. Errors wrap rig.ErrInvalid.
func ReadResume(r io.Reader, exp *protocols.Experiment, protocolSHA256 string) (*Resume, error) {
	res := &Resume{Done: map[string]DoneStage{}, Scores: map[string]Scores{}, Selections: map[string][]Target{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	sawSession := false
	var order []string
	for sc.Scan() {
		// Only the kind first: the other entries (events) are skipped
		// whatever their fields.
		var head struct {
			Kind events.Kind `json:"kind"`
		}
		if json.Unmarshal(sc.Bytes(), &head) != nil {
			break // a line torn by the crash ends the journal
		}
		if head.Kind != events.KindSession && head.Kind != events.KindStageDone {
			continue
		}
		line, err := events.DecodeEntry(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("resume: a %s entry of the journal: %w", head.Kind, err)
		}
		switch e := line.Entry.(type) {
		case events.SessionEntry:
			if e.Protocol.SHA256 != protocolSHA256 {
				return nil, fmt.Errorf("resume: the journal's session ran another version of the protocol (SHA-256 differs): %w", rig.ErrInvalid)
			}
			sawSession = true
		case events.StageDone:
			if !sawSession {
				return nil, fmt.Errorf("resume: a stage_done entry before the session entry: %w", rig.ErrInvalid)
			}
			res.Done[e.Stage] = DoneStage{Start: seconds(e.StartS), End: seconds(e.EndS)}
			order = append(order, e.Stage)
			res.From = seconds(e.EndS)
			if e.Readout != "" {
				res.Readout = e.Readout
			}
			for name, m := range e.Scores {
				res.Scores[name] = Scores{CCNorm: m.CCNorm, CCAbs: m.CCAbs, R: m.R}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("resume: reading the journal: %w", err)
	}
	if !sawSession {
		return nil, fmt.Errorf("resume: the journal has no session entry: %w", rig.ErrInvalid)
	}
	for i, name := range order {
		if i >= len(exp.Stages) || exp.Stages[i].Name != name {
			return nil, fmt.Errorf("resume: completed stage %d is %q, the protocol's is not: %w", i, name, rig.ErrInvalid)
		}
	}
	// An adapt stage still to run fits on its From stages, whose features
	// the model plugin lost: run them again.
	for i := len(order); i < len(exp.Stages); i++ {
		st := exp.Stages[i]
		if st.Kind != protocols.KindAdapt {
			continue
		}
		for _, from := range st.Adapt.From {
			for k, name := range order {
				if name == from {
					res.truncate(order[k:])
					order = order[:k]
					break
				}
			}
		}
	}
	return res, nil
}

// truncate forgets the stages named, and moves From back to the end of
// the last stage still done.
func (r *Resume) truncate(names []string) {
	for _, n := range names {
		delete(r.Done, n)
	}
	r.From = 0
	for _, d := range r.Done {
		r.From = max(r.From, d.End)
	}
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }
