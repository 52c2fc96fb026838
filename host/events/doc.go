// Package events publishes a rig's session events over MQTT, so that
// dashboards, notebooks and other rigs can follow a session as it runs, and
// defines the session journal's entries, which hold the same payloads.
//
// Every event goes to the topic twinrig/<rig>/<session>/<kind> as a JSON
// object that carries the envelope fields schema (SchemaVersion), kind, rig,
// session, time (RFC 3339, UTC, nanoseconds) and seq (1, 2, 3, ... per
// session, so a subscriber can check order and spot gaps) beside the
// fields of its kind's payload: one Go type per kind ([Started], [Block],
// [Trial], [Accuracy], [Adapted], [Selected], [Verified], [Control],
// [ErrorReport], [Finished]), each implementing [Payload], which is what
// [Publisher.Publish] takes. Started and finished events are also retained
// on twinrig/<rig>/status, so a subscriber that connects late learns what
// the rig is doing. The repository's docs/mqtt.md documents every topic and
// field with examples; its tables are generated from these types (go
// generate, internal/mqttdoc), so a field's doc comment is its meaning
// there.
//
// The host either runs its own broker ([StartEmbedded], mochi-mqtt on a
// loopback port) and publishes into it without a socket, or connects to an
// external broker (paho). Both sit behind [Publisher], made by
// [NewPublisher]. Subscribers decode payloads with [DecodeEvent], which
// checks the schema version and every field.
//
// A session's journal (journal.jsonl, written by host/record) holds every
// event's payload, and the journal-only entries [SessionEntry],
// [Launched], [Resumed], [Replayed] and [StageDone], one [Entry] per line as [EncodeEntry] writes it and
// [DecodeEntry] reads it back.
package events

//go:generate go run ./internal/mqttdoc -events . -doc ../../docs/mqtt.md
