// Package config loads and validates a twinrig rig configuration: one YAML
// file naming the rig, the session (clock, protocol, output directory), the
// three plugin binaries (stimulus, acquisition, model) with their settings,
// and the MQTT broker that carries session events.
//
// The schema, with defaults:
//
//	rig: rig-1                     # required; letters, digits, '_' or '-'; used in MQTT topics
//	session:
//	  name: demo                   # default "session"; letters, digits, '_' or '-'
//	  clock: virtual               # virtual | real; default virtual
//	  protocol: protocols/demo.yaml  # required; relative to the config file's directory
//	  output: runs                 # default "runs"; relative to the config file's directory
//	plugins:                       # all three are required
//	  stimulus:
//	    path: bin/twinrig-stimulus # required; relative to the config file's directory, or absolute
//	    args: [-v]                 # optional command-line arguments
//	    settings: {fps: 60}        # optional mapping, handed to the plugin verbatim as a JSON object
//	    start_timeout: 10s         # optional; default 10s
//	    sha256: 3f2a…              # optional; 64 hex digits: the binary must have this SHA-256
//	    mtls: false                # optional; default true: mTLS between host and plugin (go-plugin's AutoMTLS)
//	  acquisition: {path: bin/twinrig-acquisition}
//	  model: {path: bin/twinrig-model, settings: {neurons: 1000}}
//	mqtt:
//	  broker: embedded             # "embedded" (default) or tcp://host:port, mqtt://host:port,
//	                               # ssl://host:port, tls://host:port, mqtts://host:port
//	  listen: 127.0.0.1:0          # embedded only; loopback only; port 0 picks a free port
//	  username: rig                # external brokers only
//	  password_env: RIG_MQTT_PASSWORD  # or password: ...; external brokers only
//	  qos: 1                       # 0, 1 or 2; default 1
//
// [Parse] and [Load] check everything at once and report every problem they
// find, joined with errors.Join; each problem is a [*Problem] that prints as
//
//	rig.yaml:7:11: plugins.model.path: missing: a plugin binary path is required
//
// and matches [ErrInvalid] with errors.Is. Unknown keys are errors, so a typo
// never silently falls back to a default; only top-level keys that start
// with "x-" are ignored, as a place to define anchors. Anchors, aliases and
// merge keys (<<) work anywhere. JSON has no NaN or infinity, so plugin
// settings may not hold .nan or .inf.
//
// Relative paths in the config resolve against the config file's
// directory, and each plugin runs in that directory
// ([PluginConfig.Dir]), so a relative path inside its settings (a model
// file, a movie) resolves there too.
//
// Besides the file's content, Parse checks the file system: the protocol
// file must exist, each plugin path must be an executable regular file, and
// an existing output path must be a directory. A plugin's sha256, when
// given, pins its binary: Parse checks the binary against it, and the host
// checks again when it starts the binary (go-plugin's SecureConfig), so a
// binary that was rebuilt or replaced is refused, with the expected and the
// actual hash. Every session's journal records the hash of each binary
// that ran (its "launched" entries), pinned or not.
package config
