package rig

import "github.com/hashicorp/go-plugin"

// ProtocolVersion is the version of the twinrig plugin contract. A host
// refuses a plugin that speaks another version. It changes only when the
// wire contract changes incompatibly; fields are added compatibly.
const ProtocolVersion = 1

// The magic cookie: a plugin binary refuses to run unless its environment
// holds MagicCookieKey=MagicCookieValue, which tells a user who starts it by
// hand that it is meant to be launched by the twinrig host.
const (
	MagicCookieKey   = "TWINRIG_PLUGIN"
	MagicCookieValue = "d5c3a1f0-twinrig-plugin-v1"
)

// Kind names a plugin kind. It is also the go-plugin plugin name and the
// gRPC service (twinrig.v1.<Service>) the plugin serves.
type Kind string

// The plugin kinds.
const (
	KindStimulus    Kind = "stimulus"
	KindAcquisition Kind = "acquisition"
	KindModel       Kind = "model"
)

// Kinds lists every plugin kind.
func Kinds() []Kind { return []Kind{KindStimulus, KindAcquisition, KindModel} }

// MaxMessageBytes bounds one gRPC message in either direction: large enough
// for a batch of full-resolution frames (a 1024x1024 float32 frame is 4 MiB,
// gRPC's default limit).
const MaxMessageBytes = 256 << 20

// handshake is the go-plugin handshake shared by host and plugins.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}
