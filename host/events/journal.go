package events

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// Entry is one entry of a session's journal (journal.jsonl, which package
// host/record writes): every Payload, as the host publishes it, and the
// journal-only SessionEntry, Launched, Resumed, Replayed and StageDone. Only this package's
// types implement it.
type Entry interface {
	// Kind says what the entry records: an event's kind, or one of
	// JournalKinds.
	Kind() Kind
	// entry seals the interface.
	entry()
}

// The journal-only kinds: entries of a session's journal that are not
// published.
const (
	// KindSession: what produced the session; the journal's first entry.
	KindSession Kind = "session"
	// KindResumed: a resumed session continues the journal from here.
	KindResumed Kind = "resumed"
	// KindStageDone: a stage of the protocol completed.
	KindStageDone Kind = "stage_done"
	// KindLaunched: a plugin binary was started.
	KindLaunched Kind = "launched"
	// KindReplayed: a resumed session rebuilt completed stages from the
	// record without showing them again.
	KindReplayed Kind = "replayed"
)

// JournalKinds lists the kinds only the journal holds.
var JournalKinds = []Kind{KindSession, KindResumed, KindStageDone, KindLaunched, KindReplayed}

// SessionEntry is the journal's first entry: what produced the session.
type SessionEntry struct {
	// Version is the host's version.
	Version string `json:"version"`
	// PluginProtocol is the plugin protocol's version (rig.ProtocolVersion).
	PluginProtocol int `json:"plugin_protocol"`
	// Rig names the rig.
	Rig string `json:"rig"`
	// Config is the rig config the session ran with.
	Config Input `json:"config"`
	// Protocol is the protocol it ran; a session is resumed only with the
	// same protocol (the same SHA-256).
	Protocol Input `json:"protocol"`
}

// Input is a file a session was run from; the session directory keeps a
// copy.
type Input struct {
	// Path is where the file was, as an absolute path.
	Path string `json:"path"`
	// SHA256 is the SHA-256 of its content, in hex.
	SHA256 string `json:"sha256"`
}

// Launched is the journal entry of a plugin binary that ran for the
// session: one per plugin each time the plugins start (the first start,
// each restart after a plugin died, each resumption), written when the
// journal is open.
type Launched struct {
	// Plugin is the plugin's kind: stimulus, acquisition or model.
	Plugin string `json:"plugin"`
	// Path is the binary, as an absolute path.
	Path string `json:"path"`
	// SHA256 is the SHA-256 of the binary as it was started, in hex
	// (absent for a plugin that is not a process of its own).
	SHA256 string `json:"sha256,omitempty"`
	// Pid is the plugin's process id (absent: not a process of its own).
	Pid int `json:"pid,omitempty"`
	// Attempt is the session's attempt this start belongs to: 0 for the
	// session's first start, one more at each restart after a plugin died
	// and at each resumption (journals of earlier versions count the
	// restarts within one run of the host). The rows of the record's CSV
	// files carry the same number.
	Attempt int `json:"attempt"`
}

// Resumed is the journal entry of a session resumed from its record (after
// an interruption, or a plugin's death): the entries after it are the
// resumed session's.
type Resumed struct {
	// Version is the resuming host's version.
	Version string `json:"version"`
	// FromS is the session time the resumed session starts at, in seconds.
	FromS float64 `json:"from_s"`
	// Completed names the stages already completed, which are not run
	// again, in the protocol's order.
	Completed []string `json:"completed"`
	// Attempt is the attempt the resumed session starts (1 for the first
	// resumption; absent in journals of earlier versions): its rows in the
	// record's CSV files carry it.
	Attempt int `json:"attempt,omitempty"`
	// Reason says why it started: "restart of <plugin>" (the plugin that
	// died), "restart" (a plugin died, which one is not known) or
	// "resume" (twinrig run -resume); absent in earlier versions.
	Reason string `json:"reason,omitempty"`
}

// Replayed is the journal entry of completed stages a resumed session
// replayed from its record rather than showing them again: their frames
// rendered anew from the stimulus specs and stepped through the model
// with the recorded behaviour, and the recorded scans read back (see
// docs/record.md). It adds no rows to the CSV files.
type Replayed struct {
	// Stages names the stages replayed, in the protocol's order.
	Stages []string `json:"stages"`
	// Frames counts the display frames replayed (rows of frames.csv of
	// earlier attempts); ModelSteps the model steps they made (not in
	// predictions.csv); Scans the scans read back from scans.csv.
	Frames     int `json:"frames"`
	ModelSteps int `json:"model_steps"`
	Scans      int `json:"scans"`
	// Seconds is the session time the stages replayed span, in seconds:
	// what was not shown again.
	Seconds float64 `json:"seconds"`
	// Attempt is the attempt that replayed them.
	Attempt int `json:"attempt"`
}

// StageDone is the journal entry of a completed stage of the protocol,
// with what a resumed session needs to skip it. The session (host/session)
// writes it and reads it back to resume.
type StageDone struct {
	// Stage names the stage.
	Stage string `json:"stage"`
	// StageKind is the stage's kind: present, adapt, select or verify.
	StageKind string `json:"stage_kind"`
	// Index is the stage's position in the protocol, from 0.
	Index int `json:"index"`
	// StartS and EndS are the stage's span of session time, in seconds;
	// a resumed session starts at the EndS of the last completed stage.
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	// ModelSteps and Scans count the model's steps and the imaging scans
	// of the stage's attempt (since its plugins started) up to the end of
	// the stage.
	ModelSteps int `json:"model_steps"`
	Scans      int `json:"scans"`
	// Frames counts the display frames shown up to the end of the stage,
	// as ModelSteps and Scans do: within the stage's attempt, the rows of
	// that attempt in frames.csv before this entry (absent in journals of
	// earlier versions).
	Frames int `json:"frames,omitempty"`
	// Scores are the per-neuron scores of the repeated stages scored so
	// far, by stage (present and adapt stages; absent when none): what a
	// later select stage chooses its targets by.
	Scores map[string]StageScores `json:"scores,omitempty"`
	// Readout is the readout file an adapt stage saved (absent: none),
	// relative to the session directory, with '/' separators (journals
	// of earlier versions: an absolute path).
	Readout string `json:"readout,omitempty"`
	// ReadoutSHA256 is the SHA-256 of the readout file, in hex (absent
	// when it could not be read).
	ReadoutSHA256 string `json:"readout_sha256,omitempty"`
	// Targets are the ids of the neurons a select stage chose, best first
	// (absent for other stages).
	Targets []string `json:"targets,omitempty"`
	// Lag says how the stage's presentations fell behind the real clock
	// in its attempt (absent when nothing did; see docs/record.md).
	Lag *StageLag `json:"lag,omitempty"`
}

// StageLag counts how a stage fell behind the real clock.
type StageLag struct {
	// DroppedFrames counts the display frames the stimulus plugin
	// reported dropped.
	DroppedFrames int `json:"dropped_frames,omitempty"`
	// LateScans counts the scans that reached the host late beyond the
	// threshold; MaxScanLateMS is the most any scan was late.
	LateScans     int     `json:"late_scans,omitempty"`
	MaxScanLateMS float64 `json:"max_scan_late_ms,omitempty"`
	// LatePredictions and MaxPredictionLateMS: the same of the model's
	// predictions.
	LatePredictions     int     `json:"late_predictions,omitempty"`
	MaxPredictionLateMS float64 `json:"max_prediction_late_ms,omitempty"`
	// SkippedPredictions counts the frames the model skipped because it
	// was still busy with earlier ones.
	SkippedPredictions int `json:"skipped_predictions,omitempty"`
}

// StageScores are a repeated stage's per-neuron measures, one per neuron
// in the acquisition's order (NaN, written as null, where undefined).
type StageScores struct {
	// CCNorm is each neuron's CC_norm.
	CCNorm NullFloats `json:"cc_norm"`
	// CCAbs is each neuron's CC_abs.
	CCAbs NullFloats `json:"cc_abs"`
	// R is each neuron's single-trial r.
	R NullFloats `json:"r"`
}

// Kind returns KindSession.
func (SessionEntry) Kind() Kind { return KindSession }

// Kind returns KindResumed.
func (Resumed) Kind() Kind { return KindResumed }

// Kind returns KindStageDone.
func (StageDone) Kind() Kind { return KindStageDone }

// Kind returns KindLaunched.
func (Launched) Kind() Kind { return KindLaunched }

// Kind returns KindReplayed.
func (Replayed) Kind() Kind { return KindReplayed }

func (SessionEntry) entry() {}
func (Resumed) entry()      {}
func (StageDone) entry()    {}
func (Launched) entry()     {}
func (Replayed) entry()     {}

// JournalLine is one line of a session's journal, decoded.
type JournalLine struct {
	// Time is when the entry was written (wall clock); zero when the
	// line has no time.
	Time time.Time
	// Entry is the entry, a value (not a pointer) of its kind's type.
	Entry Entry
}

// journalEnvelope names the fields every journal line carries; entries may
// not use them.
var journalEnvelope = []string{"kind", "time"}

// EncodeEntry writes e as one line of a session's journal, without the
// newline: a JSON object with the entry's kind, the time t (RFC 3339 in
// UTC, with nanoseconds) and the entry's fields, those an event's payload
// has on MQTT. Unlike publishing, it does not check an event's values: the
// journal keeps what the host sent, or tried to. Errors wrap
// rig.ErrInvalid.
func EncodeEntry(e Entry, t time.Time) ([]byte, error) {
	e, err := derefEntry(e)
	if err != nil {
		return nil, err
	}
	if err := checkTime(t); err != nil {
		return nil, err
	}
	fields, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("events: journal %s entry: %w: %w", e.Kind(), err, rig.ErrInvalid)
	}
	b := make([]byte, 0, 64+len(fields))
	// A kind is one of this package's constants: no escaping needed.
	b = append(b, `{"kind":"`...)
	b = append(b, e.Kind()...)
	b = append(b, `","time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	return appendObject(b, fields), nil
}

// DecodeEntry decodes one line of a session's journal, as EncodeEntry
// wrote it or as earlier versions of the host did (the same fields), into
// the type of its kind. It does not check an event's values (DecodeEvent
// does, for what arrives over MQTT). Unknown fields are ignored. Errors
// wrap rig.ErrInvalid: a line that is not a JSON object (a line torn by a
// crash), that has no kind or an unknown one, whose time is not RFC 3339,
// or whose fields do not decode as its kind's type.
func DecodeEntry(line []byte) (JournalLine, error) {
	var head struct {
		Kind *string `json:"kind"`
		Time *string `json:"time"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return JournalLine{}, fmt.Errorf("events: journal entry: %w: %w", err, rig.ErrInvalid)
	}
	if head.Kind == nil {
		return JournalLine{}, fmt.Errorf("events: journal entry: no kind field: %w", rig.ErrInvalid)
	}
	var l JournalLine
	if head.Time != nil {
		t, err := time.Parse(time.RFC3339Nano, *head.Time)
		if err != nil {
			return JournalLine{}, fmt.Errorf("events: journal entry: time %q is not RFC 3339: %w", *head.Time, rig.ErrInvalid)
		}
		if err := checkTime(t); err != nil {
			return JournalLine{}, fmt.Errorf("events: journal entry: %w", err)
		}
		l.Time = t
	}
	var err error
	switch kind := Kind(*head.Kind); kind {
	case KindSession:
		l.Entry, err = unmarshalAs[SessionEntry](line)
	case KindResumed:
		l.Entry, err = unmarshalAs[Resumed](line)
	case KindStageDone:
		l.Entry, err = unmarshalAs[StageDone](line)
	case KindLaunched:
		l.Entry, err = unmarshalAs[Launched](line)
	case KindReplayed:
		l.Entry, err = unmarshalAs[Replayed](line)
	default:
		l.Entry, err = unmarshalPayload(kind, line)
		if err != nil {
			return JournalLine{}, fmt.Errorf("events: journal entry: %w", err)
		}
		return l, nil
	}
	if err != nil {
		return JournalLine{}, fmt.Errorf("events: journal %s entry: %w: %w", *head.Kind, err, rig.ErrInvalid)
	}
	return l, nil
}

// derefEntry returns e, or the entry e points to; an error for none.
func derefEntry(e Entry) (Entry, error) {
	if e == nil {
		return nil, fmt.Errorf("events: no entry: %w", rig.ErrInvalid)
	}
	if v := reflect.ValueOf(e); v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, fmt.Errorf("events: a nil %T: %w", e, rig.ErrInvalid)
		}
		return v.Elem().Interface().(Entry), nil
	}
	return e, nil
}
