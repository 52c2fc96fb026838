package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// SchemaVersion is the version of the payload layout this package writes and
// reads. Fields may be added within a version; removing or changing one
// bumps it.
const SchemaVersion = 1

// TopicRoot is the first level of every twinrig topic.
const TopicRoot = "twinrig"

// Kind names what an event reports; it is the last topic level.
type Kind string

// The kinds of session events.
const (
	// KindStarted: the session started. Payload [Started].
	KindStarted Kind = "started"
	// KindBlock: a protocol block started. Payload [Block].
	KindBlock Kind = "block"
	// KindTrial: a trial within a block started (reserved). Payload [Block].
	KindTrial Kind = "trial"
	// KindAccuracy: model accuracy over a block or the session. Payload [Accuracy].
	KindAccuracy Kind = "accuracy"
	// KindFinished: the session ended. Payload [Finished].
	KindFinished Kind = "finished"
	// KindError: something went wrong. Payload [ErrorReport].
	KindError Kind = "error"
	// KindAdapted: the model's readout was fitted to the recorded neurons.
	// Payload [Adapted].
	KindAdapted Kind = "adapted"
	// KindControl: the host acted on a control command (pause, resume,
	// abort). Payload [Control].
	KindControl Kind = "control"
	// KindSelected: a select stage chose its target neurons and their
	// most exciting inputs. Payload [Selected].
	KindSelected Kind = "selected"
	// KindVerified: a verify stage graded its targets (sent after each
	// repeat). Payload [Verified].
	KindVerified Kind = "verified"
)

// Kinds lists every kind, in the order a session normally emits them.
var Kinds = []Kind{KindStarted, KindBlock, KindTrial, KindAccuracy, KindAdapted, KindSelected, KindVerified, KindControl, KindFinished, KindError}

var (
	// ErrSchema is returned by DecodeEvent for a payload written with a
	// schema version it cannot read.
	ErrSchema = errors.New("unsupported event schema version")
	// ErrClosed is returned by Publish after the publisher or its embedded
	// broker was closed.
	ErrClosed = errors.New("closed")
	// ErrUnreachable is returned by NewPublisher when the broker cannot be
	// reached in time.
	ErrUnreachable = errors.New("mqtt broker unreachable")
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// checkName reports whether s can be a rig or session name: it becomes a
// topic level, so it may not hold '/', '+' or '#'.
func checkName(what, s string) error {
	if !namePattern.MatchString(s) {
		return fmt.Errorf("events: %s %q is not a valid name; expected 1 to 128 letters, digits, '_' or '-': %w", what, s, rig.ErrInvalid)
	}
	return nil
}

// Topic returns the topic of a session's events of one kind:
// twinrig/<rig>/<session>/<kind>.
func Topic(rigName, session string, kind Kind) string {
	return TopicRoot + "/" + rigName + "/" + session + "/" + string(kind)
}

// StatusTopic returns the rig's retained status topic, twinrig/<rig>/status,
// which holds a copy of the rig's latest started or finished event.
func StatusTopic(rigName string) string {
	return TopicRoot + "/" + rigName + "/status"
}

// Event is one session event, as the host publishes it.
type Event struct {
	// Kind says what happened.
	Kind Kind
	// Session names the session; it matches [A-Za-z0-9_-]{1,128}.
	Session string
	// Time is when it happened (wall clock); the zero value means "now".
	Time time.Time
	// Payload holds the kind-specific fields: the matching typed payload
	// (Started, Block, Accuracy, Finished, ErrorReport, or a pointer to
	// one), or any value that encodes to a JSON object (a map, a struct)
	// whose fields DecodeEvent accepts for the kind. Its fields may not use
	// the envelope names schema, kind, rig, session, time and seq.
	Payload any
}

// Started is the payload of a started event.
type Started struct {
	// Protocol names the protocol being run.
	Protocol string `json:"protocol"`
	// Clock is "virtual" or "real".
	Clock string `json:"clock"`
	// Plugins names the three plugins, as they describe themselves.
	Plugins PluginNames `json:"plugins"`
	// Neurons is the number of neurons the model predicts.
	Neurons int `json:"neurons"`
}

// PluginNames names the plugins of a session.
type PluginNames struct {
	Stimulus    string `json:"stimulus"`
	Acquisition string `json:"acquisition"`
	Model       string `json:"model"`
}

// Block is the payload of block and trial events.
type Block struct {
	// Block names the block (or trial).
	Block string `json:"block"`
	// Index counts blocks of the session from 0.
	Index int `json:"index"`
	// Frames is the number of stimulus frames the block will show.
	Frames int `json:"frames"`
	// OnsetS is when the block starts, in seconds of session time.
	OnsetS float64 `json:"onset_s"`
}

// Accuracy is the payload of accuracy events: how well the model predicted
// the recorded responses. Each r is a Pearson correlation in [-1, 1], or NaN
// when undefined (a neuron whose prediction or response did not vary); NaN
// travels as JSON null.
type Accuracy struct {
	// Block names the block the accuracy covers, or "session" for the
	// whole session so far.
	Block string
	// Neurons is the number of neurons evaluated.
	Neurons int
	// MedianR, Q1R and Q3R are the median and quartiles of PerNeuron.
	MedianR, Q1R, Q3R float64
	// PerNeuron holds one r per neuron, in the model's neuron order; empty,
	// or of length Neurons.
	PerNeuron []float64
}

// Status says how a session ended.
type Status string

// The ways a session can end.
const (
	StatusOK          Status = "ok"
	StatusError       Status = "error"
	StatusInterrupted Status = "interrupted"
	// StatusAborted: an operator aborted the session (CommandAbort).
	StatusAborted Status = "aborted"
)

// Selected is the payload of selected events.
type Selected struct {
	// Block names the select stage.
	Block string `json:"block"`
	// Targets are the chosen neurons' ids, best first.
	Targets []string `json:"targets"`
	// Seconds is how long ranking and synthesis took.
	Seconds float64 `json:"seconds"`
	// MedianOptimalR is the median correlation of the targets' MEIs with
	// their analytic optimal stimuli, on a simulated rig (null otherwise).
	MedianOptimalR *float64 `json:"median_optimal_r"`
}

func (s Selected) validate() error {
	if s.Block == "" || !(s.Seconds >= 0) || math.IsInf(s.Seconds, 0) {
		return fmt.Errorf("selected: block %q, seconds %v: expected a block and a time >= 0", s.Block, s.Seconds)
	}
	return nil
}

// Verified is the payload of verified events: the verification so far.
type Verified struct {
	// Block names the verify stage.
	Block string `json:"block"`
	// Targets counts the targets; Evaluated those with MEI and control
	// trials; Driven those whose MEI beat every control (mean over
	// repeats); Significant those that did so significantly.
	Targets     int `json:"targets"`
	Evaluated   int `json:"evaluated"`
	Driven      int `json:"driven"`
	Significant int `json:"significant"`
	// DrivenFraction is Driven / Evaluated (null when none evaluated).
	DrivenFraction *float64 `json:"driven_fraction"`
	// MedianZ is the median over targets of the MEI's z against the
	// controls (null when undefined).
	MedianZ *float64 `json:"median_z"`
}

func (v Verified) validate() error {
	if v.Block == "" || v.Targets < 0 || v.Evaluated < 0 || v.Driven < 0 || v.Significant < 0 ||
		v.Evaluated > v.Targets || v.Driven > v.Evaluated || v.Significant > v.Driven {
		return fmt.Errorf("verified: block %q, targets %d, evaluated %d, driven %d, significant %d: expected a block and counts with significant <= driven <= evaluated <= targets",
			v.Block, v.Targets, v.Evaluated, v.Driven, v.Significant)
	}
	return nil
}

// Control is the payload of control events: what the host did with a
// command.
type Control struct {
	// Command is the command acted on (CommandPause, CommandResume,
	// CommandAbort).
	Command string `json:"command"`
	// State is the session's state after it: "paused", "running" or
	// "aborting".
	State string `json:"state"`
	// Reason is the command's reason, if any.
	Reason string `json:"reason,omitempty"`
}

func (c Control) validate() error {
	switch c.Command {
	case CommandPause, CommandResume, CommandAbort:
	default:
		return fmt.Errorf("control: command %q, expected pause, resume or abort", c.Command)
	}
	switch c.State {
	case "paused", "running", "aborting":
	default:
		return fmt.Errorf("control: state %q, expected paused, running or aborting", c.State)
	}
	return nil
}

// Finished is the payload of finished events.
type Finished struct {
	// Status says how the session ended.
	Status Status `json:"status"`
	// DurationS is the session's length in seconds of session time.
	DurationS float64 `json:"duration_s"`
	// FramesShown counts the stimulus frames shown.
	FramesShown int64 `json:"frames_shown"`
	// Scans counts the imaging scans (frames of the acquisition) recorded.
	Scans int64 `json:"scans"`
}

// ErrorReport is the payload of error events.
type ErrorReport struct {
	// Message says what went wrong.
	Message string `json:"message"`
	// Plugin names the plugin role ("stimulus", "acquisition", "model") the
	// error came from, if any.
	Plugin string `json:"plugin,omitempty"`
}

// payload is implemented by the typed payloads.
type payload interface {
	// kinds lists the kinds the payload belongs to.
	kinds() []Kind
	// validate reports what is wrong with the payload's values.
	validate() error
}

func (Started) kinds() []Kind     { return []Kind{KindStarted} }
func (Block) kinds() []Kind       { return []Kind{KindBlock, KindTrial} }
func (Accuracy) kinds() []Kind    { return []Kind{KindAccuracy} }
func (Finished) kinds() []Kind    { return []Kind{KindFinished} }
func (ErrorReport) kinds() []Kind { return []Kind{KindError} }
func (Adapted) kinds() []Kind     { return []Kind{KindAdapted} }
func (Control) kinds() []Kind     { return []Kind{KindControl} }
func (Selected) kinds() []Kind    { return []Kind{KindSelected} }
func (Verified) kinds() []Kind    { return []Kind{KindVerified} }

func (s Started) validate() error {
	switch {
	case s.Protocol == "":
		return errors.New("started: protocol is empty")
	case s.Clock != rig.VirtualClock.String() && s.Clock != rig.RealClock.String():
		return fmt.Errorf("started: clock %q is not virtual or real", s.Clock)
	case s.Neurons < 0:
		return fmt.Errorf("started: neurons %d is negative", s.Neurons)
	}
	return nil
}

func (b Block) validate() error {
	switch {
	case b.Block == "":
		return errors.New("block: block name is empty")
	case b.Index < 0:
		return fmt.Errorf("block: index %d is negative", b.Index)
	case b.Frames < 0:
		return fmt.Errorf("block: frames %d is negative", b.Frames)
	case !(b.OnsetS >= 0) || math.IsInf(b.OnsetS, 0):
		return fmt.Errorf("block: onset_s %v is not a finite time >= 0", b.OnsetS)
	}
	return nil
}

// validR reports whether r is a correlation or NaN.
func validR(r float64) bool { return math.IsNaN(r) || (r >= -1 && r <= 1) }

func (a Accuracy) validate() error {
	switch {
	case a.Block == "":
		return errors.New("accuracy: block is empty; expected a block name or \"session\"")
	case a.Neurons < 0:
		return fmt.Errorf("accuracy: neurons %d is negative", a.Neurons)
	case len(a.PerNeuron) != 0 && len(a.PerNeuron) != a.Neurons:
		return fmt.Errorf("accuracy: per_neuron holds %d values for %d neurons", len(a.PerNeuron), a.Neurons)
	case !validR(a.MedianR) || !validR(a.Q1R) || !validR(a.Q3R):
		return fmt.Errorf("accuracy: median_r %v, q1_r %v, q3_r %v: expected correlations in [-1, 1] or null", a.MedianR, a.Q1R, a.Q3R)
	case a.Q1R > a.MedianR || a.MedianR > a.Q3R:
		return fmt.Errorf("accuracy: quartiles out of order: q1_r %v, median_r %v, q3_r %v", a.Q1R, a.MedianR, a.Q3R)
	}
	for i, r := range a.PerNeuron {
		if !validR(r) {
			return fmt.Errorf("accuracy: per_neuron[%d] %v is not a correlation in [-1, 1] or null", i, r)
		}
	}
	return nil
}

func (f Finished) validate() error {
	switch {
	case f.Status != StatusOK && f.Status != StatusError && f.Status != StatusInterrupted && f.Status != StatusAborted:
		return fmt.Errorf("finished: status %q is not ok, error, interrupted or aborted", f.Status)
	case !(f.DurationS >= 0) || math.IsInf(f.DurationS, 0):
		return fmt.Errorf("finished: duration_s %v is not a finite time >= 0", f.DurationS)
	case f.FramesShown < 0 || f.Scans < 0:
		return fmt.Errorf("finished: frames_shown %d or scans %d is negative", f.FramesShown, f.Scans)
	}
	return nil
}

// Adapted is the payload of adapted events.
type Adapted struct {
	// Block names the block after which the model was adapted.
	Block string `json:"block"`
	// Neurons is how many recorded neurons the new readout predicts.
	Neurons int `json:"neurons"`
	// Samples is how many scans the fit used.
	Samples int `json:"samples"`
	// Seconds is how long the fit took.
	Seconds float64 `json:"seconds"`
}

func (a Adapted) validate() error {
	if a.Block == "" || a.Neurons < 0 || a.Samples < 0 || a.Seconds < 0 || math.IsNaN(a.Seconds) {
		return fmt.Errorf("adapted: block %q, neurons %d, samples %d, seconds %v: expected a block and non-negative counts", a.Block, a.Neurons, a.Samples, a.Seconds)
	}
	return nil
}

func (e ErrorReport) validate() error {
	if e.Message == "" {
		return errors.New("error: message is empty")
	}
	return nil
}

// MarshalJSON writes the accuracy with NaN as null.
func (a Accuracy) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 96+len(a.Block)+12*len(a.PerNeuron))
	b = append(b, `{"block":`...)
	bs, err := json.Marshal(a.Block)
	if err != nil {
		return nil, err
	}
	b = append(b, bs...)
	b = append(b, `,"neurons":`...)
	b = strconv.AppendInt(b, int64(a.Neurons), 10)
	for _, f := range []struct {
		name string
		v    float64
	}{{`,"median_r":`, a.MedianR}, {`,"q1_r":`, a.Q1R}, {`,"q3_r":`, a.Q3R}} {
		b = append(b, f.name...)
		if b, err = appendNullFloat(b, f.v); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"per_neuron":[`...)
	for i, r := range a.PerNeuron {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendNullFloat(b, r); err != nil {
			return nil, err
		}
	}
	return append(b, "]}"...), nil
}

// appendNullFloat appends f as a JSON number, or null for NaN.
func appendNullFloat(b []byte, f float64) ([]byte, error) {
	switch {
	case math.IsNaN(f):
		return append(b, "null"...), nil
	case math.IsInf(f, 0):
		return nil, fmt.Errorf("events: %v cannot be encoded in JSON: %w", f, rig.ErrInvalid)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64), nil
}

// nullFloat decodes a JSON number, or null as NaN.
type nullFloat float64

func (n *nullFloat) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*n = nullFloat(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	*n = nullFloat(f)
	return nil
}

// UnmarshalJSON reads an accuracy written by MarshalJSON (null as NaN).
func (a *Accuracy) UnmarshalJSON(data []byte) error {
	var w struct {
		Block     string      `json:"block"`
		Neurons   int         `json:"neurons"`
		MedianR   *nullFloat  `json:"median_r"`
		Q1R       *nullFloat  `json:"q1_r"`
		Q3R       *nullFloat  `json:"q3_r"`
		PerNeuron []nullFloat `json:"per_neuron"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	get := func(p *nullFloat) float64 {
		if p == nil {
			return math.NaN()
		}
		return float64(*p)
	}
	*a = Accuracy{Block: w.Block, Neurons: w.Neurons, MedianR: get(w.MedianR), Q1R: get(w.Q1R), Q3R: get(w.Q3R)}
	if len(w.PerNeuron) > 0 {
		a.PerNeuron = make([]float64, len(w.PerNeuron))
		for i, r := range w.PerNeuron {
			a.PerNeuron[i] = float64(r)
		}
	}
	return nil
}

// envelope names the fields every payload carries; payloads may not use them.
var envelope = []string{"schema", "kind", "rig", "session", "time", "seq"}

// checkTime reports a time that RFC 3339 cannot write in UTC.
func checkTime(t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("events: time %v is outside the years 0000 to 9999 (UTC): %w", t, rig.ErrInvalid)
	}
	return nil
}

// encode writes the JSON payload of ev, the seq-th event of its session.
// ev.Time must be set.
func encode(rigName string, seq uint64, ev Event) ([]byte, error) {
	if err := checkTime(ev.Time); err != nil {
		return nil, err
	}
	fields, err := encodePayload(ev)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 128+len(fields))
	b = append(b, `{"schema":`...)
	b = strconv.AppendInt(b, SchemaVersion, 10)
	// Kind, rig and session are checked names: no escaping needed.
	b = append(b, `,"kind":"`...)
	b = append(b, ev.Kind...)
	b = append(b, `","rig":"`...)
	b = append(b, rigName...)
	b = append(b, `","session":"`...)
	b = append(b, ev.Session...)
	b = append(b, `","time":"`...)
	b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	if len(fields) > 2 { // more than "{}"
		b = append(b, ',')
		b = append(b, fields[1:len(fields)-1]...)
	}
	return append(b, '}'), nil
}

// encodePayload checks ev's kind and payload and returns the payload as a
// JSON object.
func encodePayload(ev Event) ([]byte, error) {
	if !slices.Contains(Kinds, ev.Kind) {
		return nil, fmt.Errorf("events: unknown kind %q; expected one of %v: %w", ev.Kind, Kinds, rig.ErrInvalid)
	}
	if ev.Payload == nil {
		return decodeCheck(ev.Kind, []byte("{}"))
	}
	var p payload
	switch v := ev.Payload.(type) { // pointers first: they implement payload too
	case *Started:
		p = derefOrNil(v)
	case *Block:
		p = derefOrNil(v)
	case *Accuracy:
		p = derefOrNil(v)
	case *Finished:
		p = derefOrNil(v)
	case *ErrorReport:
		p = derefOrNil(v)
	case payload:
		p = v
	}
	if p != nil {
		if !slices.Contains(p.kinds(), ev.Kind) {
			return nil, fmt.Errorf("events: a %T payload does not fit a %s event: %w", ev.Payload, ev.Kind, rig.ErrInvalid)
		}
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("events: %w: %w", err, rig.ErrInvalid)
		}
		data, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("events: encode %s payload: %w", ev.Kind, err)
		}
		return data, nil
	}
	data, err := json.Marshal(ev.Payload)
	if err != nil {
		return nil, fmt.Errorf("events: encode %s payload: %w", ev.Kind, err)
	}
	return decodeCheck(ev.Kind, data)
}

// derefOrNil returns *p, or nil for a nil pointer.
func derefOrNil[T payload](p *T) payload {
	if p == nil {
		return nil
	}
	return *p
}

// decodeCheck checks that an untyped payload is a JSON object that does not
// use envelope names and that decodes as the kind's typed payload.
func decodeCheck(kind Kind, data []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("events: a %s payload must encode to a JSON object, not %.40s: %w", kind, data, rig.ErrInvalid)
	}
	for field := range fields {
		// encoding/json matches field names case-insensitively, so "Seq"
		// would overwrite "seq" for a Go subscriber.
		if i := slices.IndexFunc(envelope, func(name string) bool { return strings.EqualFold(name, field) }); i >= 0 {
			return nil, fmt.Errorf("events: %s payload uses the envelope field %q: %w", kind, envelope[i], rig.ErrInvalid)
		}
	}
	if _, err := decodePayload(kind, data); err != nil {
		return nil, err
	}
	return data, nil
}

// Message is an event as a subscriber receives it.
type Message struct {
	// Event holds the kind, session, time and the typed payload: a
	// Started, Block (for block and trial), Accuracy, Finished or
	// ErrorReport value.
	Event
	// Schema is the payload's schema version (SchemaVersion).
	Schema int
	// Rig names the rig that sent it.
	Rig string
	// Seq numbers the session's events from 1, with no gaps as sent; a
	// subscriber at QoS 1 may see a repeat, which has the same seq.
	Seq uint64
}

// DecodeEvent decodes and validates an event payload as published on
// twinrig/<rig>/<session>/<kind> or the status topic. It checks the schema
// version (errors.Is(err, ErrSchema) when it is not SchemaVersion), that
// every envelope field is present and valid, and the kind-specific fields;
// other errors match rig.ErrInvalid. Unknown fields are ignored, so that
// fields can be added within a schema version.
func DecodeEvent(data []byte) (Message, error) {
	var env struct {
		Schema  *json.Number `json:"schema"`
		Kind    *string      `json:"kind"`
		Rig     *string      `json:"rig"`
		Session *string      `json:"session"`
		Time    *string      `json:"time"`
		Seq     *uint64      `json:"seq"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return Message{}, fmt.Errorf("events: decode: %w: %w", err, rig.ErrInvalid)
	}
	if env.Schema == nil {
		return Message{}, fmt.Errorf("events: decode: no schema field: %w", ErrSchema)
	}
	if v, err := env.Schema.Int64(); err != nil || v != SchemaVersion {
		return Message{}, fmt.Errorf("events: decode: schema %s; this decoder reads schema %d: %w", env.Schema, SchemaVersion, ErrSchema)
	}
	missing := func(name string) error {
		return fmt.Errorf("events: decode: no %s field: %w", name, rig.ErrInvalid)
	}
	switch {
	case env.Kind == nil:
		return Message{}, missing("kind")
	case env.Rig == nil:
		return Message{}, missing("rig")
	case env.Session == nil:
		return Message{}, missing("session")
	case env.Time == nil:
		return Message{}, missing("time")
	case env.Seq == nil:
		return Message{}, missing("seq")
	}
	m := Message{Schema: SchemaVersion, Rig: *env.Rig, Seq: *env.Seq}
	m.Kind, m.Session = Kind(*env.Kind), *env.Session
	if err := checkName("rig", m.Rig); err != nil {
		return Message{}, fmt.Errorf("events: decode: %w", err)
	}
	if err := checkName("session", m.Session); err != nil {
		return Message{}, fmt.Errorf("events: decode: %w", err)
	}
	if !slices.Contains(Kinds, m.Kind) {
		return Message{}, fmt.Errorf("events: decode: unknown kind %q; expected one of %v: %w", m.Kind, Kinds, rig.ErrInvalid)
	}
	t, err := time.Parse(time.RFC3339Nano, *env.Time)
	if err != nil {
		return Message{}, fmt.Errorf("events: decode: time %q is not RFC 3339: %w", *env.Time, rig.ErrInvalid)
	}
	if err := checkTime(t); err != nil {
		return Message{}, fmt.Errorf("events: decode: %w", err)
	}
	m.Time = t
	if m.Seq == 0 {
		return Message{}, fmt.Errorf("events: decode: seq is 0; sequence numbers start at 1: %w", rig.ErrInvalid)
	}
	if m.Payload, err = decodePayload(m.Kind, data); err != nil {
		return Message{}, err
	}
	return m, nil
}

// decodePayload decodes and validates the kind-specific fields of data.
func decodePayload(kind Kind, data []byte) (payload, error) {
	var p payload
	var err error
	switch kind {
	case KindStarted:
		p, err = unmarshalAs[Started](data)
	case KindBlock, KindTrial:
		p, err = unmarshalAs[Block](data)
	case KindAccuracy:
		p, err = unmarshalAs[Accuracy](data)
	case KindFinished:
		p, err = unmarshalAs[Finished](data)
	case KindError:
		p, err = unmarshalAs[ErrorReport](data)
	case KindAdapted:
		p, err = unmarshalAs[Adapted](data)
	case KindControl:
		p, err = unmarshalAs[Control](data)
	case KindSelected:
		p, err = unmarshalAs[Selected](data)
	case KindVerified:
		p, err = unmarshalAs[Verified](data)
	default:
		return nil, fmt.Errorf("events: unknown kind %q: %w", kind, rig.ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("events: decode %s payload: %w: %w", kind, err, rig.ErrInvalid)
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("events: %w: %w", err, rig.ErrInvalid)
	}
	return p, nil
}

func unmarshalAs[T payload](data []byte) (payload, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return v, nil
}
