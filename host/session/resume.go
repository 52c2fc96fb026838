package session

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"path/filepath"
	"slices"
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
	// ("": none), restored into the model before anything runs: as the
	// journal has it, relative to the session directory (or absolute, in
	// journals of earlier versions); the caller resolves it.
	Readout string
	// Scores are the per-neuron scores of the repeated stages scored so
	// far (what a select stage chooses its targets by).
	Scores map[string]Scores
	// Finished is set when the session ran to its end, status ok or
	// degraded (its last finished entry says so): there is nothing to
	// resume.
	Finished bool
	// Selections are the completed select stages' targets and stimuli,
	// filled by the caller from the record (Options.Recorder wrote them).
	Selections map[string][]Target
	// Attempt is the attempt the resumed session is: 1 plus the
	// resumptions the journal holds (events.Resumed entries; each restart
	// or resumption writes one), as the record marks its rows.
	Attempt int
	// Replay holds the completed stages the session rebuilds from its
	// record instead of showing them again (see LoadReplay), in the
	// protocol's order; they are in Done. Empty: none.
	Replay []ReplayStage

	// replay is what LoadReplay may keep: the completed present stages a
	// pending adapt stage needs, which ReadResume forgot (nil: none).
	replay *replayPlan
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
// events.SessionEntry, events.StageDone and events.Finished entries, as
// the engine and the host wrote them (this version or earlier ones: the
// fields are the same). The protocol's SHA-256 in the session entry must
// be protocolSHA256 (a journal of another protocol is refused), and the
// completed stages must be a prefix of exp's stages. A last line without
// its newline was torn by a crash and is skipped (record.Open cuts it
// before appending); a line that does not parse (garbage, NUL bytes)
// anywhere else is refused, naming its line number. Entries of other
// kinds are skipped, but for the resumed entries, which are counted
// (Resume.Attempt). A stage_done entry for a stage done before (a restart
// ran it again, or one it depends on) wins over the earlier one, and the
// stages done after the earlier one are forgotten: the later run of the
// stage is what the session continued from. A readout path is kept as the journal has it:
// relative to the session directory (this version) or absolute (earlier
// ones); a relative one that leaves the session directory is refused.
// The completed stages a pending adapt stage fits on or holds out (and
// those after them) are forgotten, as its features are lost with the
// model plugin; when they are all present stages they are the
// ReplayCandidates, which LoadReplay keeps as done when the record holds
// their frames and scans (the engine then replays them instead of showing
// them again). Errors wrap rig.ErrInvalid.
func ReadResume(r io.Reader, exp *protocols.Experiment, protocolSHA256 string) (*Resume, error) {
	res := &Resume{Done: map[string]DoneStage{}, Scores: map[string]Scores{}, Selections: map[string][]Target{}}
	br := bufio.NewReaderSize(r, 1<<16)
	sawSession := false
	var order []string
	readouts := map[string]string{} // by adapt stage
	attempts := map[string]int{}    // by stage: the attempt that completed it
	// torn is the number of a line that did not parse (0: none): only
	// the last line may be one.
	torn := 0
	for n := 1; ; n++ {
		text, readErr := br.ReadBytes('\n')
		if readErr != nil && readErr != io.EOF {
			return nil, fmt.Errorf("resume: reading the journal, line %d: %w", n, readErr)
		}
		if len(text) == 0 && readErr == io.EOF {
			break
		}
		if torn > 0 {
			return nil, fmt.Errorf("resume: journal line %d is not a journal entry and more lines follow it (a corrupt journal, not a torn last line): %w", torn, rig.ErrInvalid)
		}
		if readErr == io.EOF {
			// A last line without its newline was torn by a crash, even
			// when it parses: the recorder cuts it before appending
			// (record.Open), so it is not counted either.
			break
		}
		text = bytes.TrimSuffix(text, []byte("\n"))
		// Only the kind first: the other entries (events) are skipped
		// whatever their fields.
		var head struct {
			Kind events.Kind `json:"kind"`
		}
		if err := json.Unmarshal(text, &head); err != nil || bytes.IndexByte(text, 0) >= 0 {
			torn = n
			continue
		}
		if head.Kind == events.KindResumed {
			res.Attempt++
			continue
		}
		if head.Kind != events.KindSession && head.Kind != events.KindStageDone && head.Kind != events.KindFinished {
			continue
		}
		line, err := events.DecodeEntry(text)
		if err != nil {
			return nil, fmt.Errorf("resume: journal line %d: a %s entry: %w", n, head.Kind, err)
		}
		switch e := line.Entry.(type) {
		case events.SessionEntry:
			if e.Protocol.SHA256 != protocolSHA256 {
				return nil, fmt.Errorf("resume: the journal's session ran another version of the protocol (SHA-256 differs): %w", rig.ErrInvalid)
			}
			sawSession = true
		case events.StageDone:
			if !sawSession {
				return nil, fmt.Errorf("resume: journal line %d: a stage_done entry before the session entry: %w", n, rig.ErrInvalid)
			}
			if k := slices.Index(order, e.Stage); k >= 0 {
				// Done again: this entry wins; the stages after the
				// earlier one ran again after it, or will.
				res.truncate(order[k:])
				order = order[:k]
			}
			res.Done[e.Stage] = DoneStage{Start: seconds(e.StartS), End: seconds(e.EndS)}
			attempts[e.Stage] = res.Attempt
			order = append(order, e.Stage)
			res.From = seconds(e.EndS)
			if e.Readout != "" {
				if !filepath.IsAbs(e.Readout) && !filepath.IsLocal(filepath.FromSlash(e.Readout)) {
					return nil, fmt.Errorf("resume: journal line %d: readout %q is neither absolute nor inside the session directory: %w", n, e.Readout, rig.ErrInvalid)
				}
				readouts[e.Stage] = e.Readout
			}
			for name, m := range e.Scores {
				res.Scores[name] = Scores{CCNorm: m.CCNorm, CCAbs: m.CCAbs, R: m.R}
			}
		case events.Finished:
			res.Finished = e.Status.Completed()
		}
	}
	if torn > 0 {
		return nil, fmt.Errorf("resume: journal line %d is not a journal entry (a corrupt journal, not a torn last line): %w", torn, rig.ErrInvalid)
	}
	if !sawSession {
		return nil, fmt.Errorf("resume: the journal has no session entry: %w", rig.ErrInvalid)
	}
	res.Attempt++ // the one resuming
	for i, name := range order {
		if i >= len(exp.Stages) || exp.Stages[i].Name != name {
			return nil, fmt.Errorf("resume: completed stage %d is %q, the protocol's is not: %w", i, name, rig.ErrInvalid)
		}
	}
	// An adapt stage still to run fits on its From stages, whose features
	// the model plugin lost: run them again, unless LoadReplay can
	// rebuild them from the record (plan keeps what it needs for that).
	plan := &replayPlan{done: maps.Clone(res.Done), from: res.From, attempts: attempts}
	kept := slices.Clone(order)
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
	if dropped := kept[len(order):]; len(dropped) > 0 {
		plan.stages = slices.Clone(dropped)
		for _, name := range dropped {
			if st := exp.Find(name); st == nil || st.Kind != protocols.KindPresent {
				plan = nil // only present stages replay
				break
			}
		}
		res.replay = plan
	}
	// The readout restored is the last one of the stages still done.
	for _, name := range order {
		if r, ok := readouts[name]; ok {
			res.Readout = r
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
