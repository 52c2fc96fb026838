// Package events publishes a rig's session events over MQTT, so that
// dashboards, notebooks and other rigs can follow a session as it runs.
//
// Every event goes to the topic twinrig/<rig>/<session>/<kind> as a JSON
// object that carries the envelope fields schema (SchemaVersion), kind, rig,
// session, time (RFC 3339, UTC, nanoseconds) and seq (1, 2, 3, ... per
// session, so a subscriber can check order and spot gaps) beside the
// kind-specific fields of [Started], [Block], [Accuracy], [Finished] or
// [ErrorReport]. Started and finished events are also retained on
// twinrig/<rig>/status, so a subscriber that connects late learns what the
// rig is doing. The repository's docs/mqtt.md documents every topic and
// field with examples.
//
// The host either runs its own broker ([StartEmbedded], mochi-mqtt on a
// loopback port) and publishes into it without a socket, or connects to an
// external broker (paho). Both sit behind [Publisher], made by
// [NewPublisher]. Subscribers decode payloads with [DecodeEvent], which
// checks the schema version and every field.
package events
