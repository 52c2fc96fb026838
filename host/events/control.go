package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/twinrig/twinrig/rig"
)

// The commands a client may send on a rig's control topic.
const (
	// CommandPause stops the session at the next trial boundary: the
	// display shows the protocol's blank until CommandResume.
	CommandPause = "pause"
	// CommandResume continues a paused session.
	CommandResume = "resume"
	// CommandAbort ends the session at the next trial boundary, keeping
	// everything recorded so far.
	CommandAbort = "abort"
)

// MaxCommandBytes bounds a control message.
const MaxCommandBytes = 4096

// ControlTopic returns the rig's control topic, twinrig/<rig>/control, the
// one twinrig topic that clients other than the host may publish to.
func ControlTopic(rigName string) string {
	return TopicRoot + "/" + rigName + "/control"
}

// Command is a control message: a JSON object such as
// {"command": "pause", "session": "demo-20261126T120000Z-3fa91c0e", "reason": "..."}.
type Command struct {
	// Command is CommandPause, CommandResume or CommandAbort.
	Command string `json:"command"`
	// Session, when set, names the session the command is for; the host
	// ignores a command for another session (a stale one).
	Session string `json:"session,omitempty"`
	// Reason is for the record and the events.
	Reason string `json:"reason,omitempty"`
}

// DecodeCommand parses a control message strictly: one JSON object of at
// most MaxCommandBytes with the fields of Command only, a known command, a
// valid session name when given, a reason of at most 256 bytes. Errors
// wrap rig.ErrInvalid and say what was expected.
func DecodeCommand(data []byte) (Command, error) {
	if len(data) > MaxCommandBytes {
		return Command{}, fmt.Errorf("events: control message of %d bytes, expected at most %d: %w", len(data), MaxCommandBytes, rig.ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Command
	if err := dec.Decode(&c); err != nil {
		return Command{}, fmt.Errorf("events: control message: %v; expected a JSON object like {\"command\": \"pause\"}: %w", err, rig.ErrInvalid)
	}
	if dec.More() {
		return Command{}, fmt.Errorf("events: control message: data after the JSON object: %w", rig.ErrInvalid)
	}
	switch c.Command {
	case CommandPause, CommandResume, CommandAbort:
	default:
		return Command{}, fmt.Errorf("events: control message: command %q, expected %q, %q or %q: %w",
			c.Command, CommandPause, CommandResume, CommandAbort, rig.ErrInvalid)
	}
	if c.Session != "" {
		if err := checkName("session", c.Session); err != nil {
			return Command{}, fmt.Errorf("events: control message: %w", err)
		}
	}
	if len(c.Reason) > 256 {
		return Command{}, fmt.Errorf("events: control message: reason of %d bytes, expected at most 256: %w", len(c.Reason), rig.ErrInvalid)
	}
	return c, nil
}

// Encode returns the command as a control message, or an error wrapping
// rig.ErrInvalid when it would not decode.
func (c Command) Encode() ([]byte, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("events: control message: %w", err)
	}
	if _, err := DecodeCommand(data); err != nil {
		return nil, err
	}
	return data, nil
}

// isControlTopic reports whether topic is some rig's control topic.
func isControlTopic(topic string) bool {
	parts := strings.Split(topic, "/")
	return len(parts) == 3 && parts[0] == TopicRoot && parts[2] == "control" && namePattern.MatchString(parts[1])
}

// controlSubscriptionID is the inline subscription's id on the embedded
// broker.
const controlSubscriptionID = 1

// subscribeControl delivers every message on the rig's control topic to
// handle (decoded, or the decoding error), in process, until stop.
func (b *Broker) subscribeControl(rigName string, handle func(Command, error)) (stop func(), err error) {
	topic := ControlTopic(rigName)
	fn := func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		handle(DecodeCommand(pk.Payload))
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, fmt.Errorf("events: embedded broker: %w", ErrClosed)
	}
	if err := b.server.Subscribe(topic, controlSubscriptionID, fn); err != nil {
		return nil, fmt.Errorf("events: embedded broker: subscribe to %s: %w", topic, err)
	}
	return func() {
		b.mu.RLock()
		defer b.mu.RUnlock()
		if !b.closed {
			_ = b.server.Unsubscribe(topic, controlSubscriptionID)
		}
	}, nil
}
