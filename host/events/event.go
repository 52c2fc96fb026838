package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
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

// The kinds of session events, each with its payload type. The doc
// comment of each (after "KindX: ") is its line in docs/mqtt.md's topic
// table.
const (
	// KindStarted: the session started.
	KindStarted Kind = "started"
	// KindBlock: a present or verify block started.
	KindBlock Kind = "block"
	// KindTrial: a trial started: a stimulus of a block, once per repeat.
	KindTrial Kind = "trial"
	// KindAccuracy: the model's accuracy over a block, or over the session.
	KindAccuracy Kind = "accuracy"
	// KindAdapted: the model's readout was fitted to the recorded neurons.
	KindAdapted Kind = "adapted"
	// KindSelected: a select block chose its targets and their MEIs.
	KindSelected Kind = "selected"
	// KindVerified: a verify block's grades so far.
	KindVerified Kind = "verified"
	// KindControl: the host acted on a control command.
	KindControl Kind = "control"
	// KindFinished: the session ended.
	KindFinished Kind = "finished"
	// KindError: something went wrong.
	KindError Kind = "error"
)

// Kinds lists every kind the host publishes, in the order a session
// normally emits them.
var Kinds = []Kind{KindStarted, KindBlock, KindTrial, KindAccuracy, KindAdapted, KindSelected, KindVerified, KindControl, KindFinished, KindError}

// StatusKinds lists the kinds whose events are also retained on the rig's
// status topic (StatusTopic).
var StatusKinds = []Kind{KindStarted, KindFinished}

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
	// Session names the session; it matches [A-Za-z0-9_-]{1,128}.
	Session string
	// Time is when it happened (wall clock); the zero value means "now".
	Time time.Time
	// Payload holds the kind-specific fields, and says the kind.
	Payload Payload
}

// Kind returns the kind of the event's payload ("" when it has none).
func (e Event) Kind() Kind {
	p, err := deref(e.Payload)
	if err != nil {
		return ""
	}
	return p.Kind()
}

// deref returns p, or the payload p points to; an error for none.
func deref(p Payload) (Payload, error) {
	if p == nil {
		return nil, fmt.Errorf("events: no payload: %w", rig.ErrInvalid)
	}
	e, err := derefEntry(p)
	if err != nil {
		return nil, err
	}
	return e.(Payload), nil
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
	p, fields, err := encodePayload(ev.Payload)
	if err != nil {
		return nil, err
	}
	return appendObject(envelopeOf(p.Kind(), rigName, ev.Session, ev.Time, seq), fields), nil
}

// envelopeOf starts the JSON object of an event with its envelope fields,
// without the closing brace.
func envelopeOf(kind Kind, rigName, session string, t time.Time, seq uint64) []byte {
	b := make([]byte, 0, 512)
	b = append(b, `{"schema":`...)
	b = strconv.AppendInt(b, SchemaVersion, 10)
	// Kind, rig and session are checked names: no escaping needed.
	b = append(b, `,"kind":"`...)
	b = append(b, kind...)
	b = append(b, `","rig":"`...)
	b = append(b, rigName...)
	b = append(b, `","session":"`...)
	b = append(b, session...)
	b = append(b, `","time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","seq":`...)
	return strconv.AppendUint(b, seq, 10)
}

// appendObject appends the fields of the JSON object fields to head, the
// start of an object without its closing brace, and closes it.
func appendObject(head, fields []byte) []byte {
	if len(fields) > 2 { // more than "{}"
		head = append(head, ',')
		head = append(head, fields[1:len(fields)-1]...)
	}
	return append(head, '}')
}

// encodePayload checks p and returns it (dereferenced) with its JSON
// object.
func encodePayload(p Payload) (Payload, []byte, error) {
	p, err := deref(p)
	if err != nil {
		return nil, nil, err
	}
	if err := p.validate(); err != nil {
		return nil, nil, fmt.Errorf("events: %w: %w", err, rig.ErrInvalid)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return nil, nil, fmt.Errorf("events: encode %s payload: %w: %w", p.Kind(), err, rig.ErrInvalid)
	}
	return p, data, nil
}

// Message is an event as a subscriber receives it.
type Message struct {
	// Event holds the session, time and the typed payload, a value (not a
	// pointer) of the kind's payload type; Kind() says the kind.
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
	m.Session = *env.Session
	kind := Kind(*env.Kind)
	if err := checkName("rig", m.Rig); err != nil {
		return Message{}, fmt.Errorf("events: decode: %w", err)
	}
	if err := checkName("session", m.Session); err != nil {
		return Message{}, fmt.Errorf("events: decode: %w", err)
	}
	if !slices.Contains(Kinds, kind) {
		return Message{}, fmt.Errorf("events: decode: unknown kind %q; expected one of %v: %w", kind, Kinds, rig.ErrInvalid)
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
	if m.Payload, err = decodePayload(kind, data); err != nil {
		return Message{}, err
	}
	return m, nil
}

// decodePayload decodes and validates the kind-specific fields of data.
func decodePayload(kind Kind, data []byte) (Payload, error) {
	p, err := unmarshalPayload(kind, data)
	if err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("events: %w: %w", err, rig.ErrInvalid)
	}
	return p, nil
}

// unmarshalPayload decodes the kind-specific fields of data into the
// kind's payload type, without validating their values.
func unmarshalPayload(kind Kind, data []byte) (Payload, error) {
	var p Payload
	var err error
	switch kind {
	case KindStarted:
		p, err = unmarshalAs[Started](data)
	case KindBlock:
		p, err = unmarshalAs[Block](data)
	case KindTrial:
		p, err = unmarshalAs[Trial](data)
	case KindAccuracy:
		p, err = unmarshalAs[Accuracy](data)
	case KindAdapted:
		p, err = unmarshalAs[Adapted](data)
	case KindSelected:
		p, err = unmarshalAs[Selected](data)
	case KindVerified:
		p, err = unmarshalAs[Verified](data)
	case KindControl:
		p, err = unmarshalAs[Control](data)
	case KindError:
		p, err = unmarshalAs[ErrorReport](data)
	case KindFinished:
		p, err = unmarshalAs[Finished](data)
	default:
		return nil, fmt.Errorf("events: unknown kind %q: %w", kind, rig.ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("events: decode %s payload: %w: %w", kind, err, rig.ErrInvalid)
	}
	return p, nil
}

// unmarshalAs decodes data into a T.
func unmarshalAs[T Entry](data []byte) (T, error) {
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}
