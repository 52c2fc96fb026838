package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// Defaults for optional fields.
const (
	DefaultSessionName  = "session"
	DefaultClock        = rig.VirtualClock
	DefaultOutput       = "runs"
	DefaultStartTimeout = 10 * time.Second
	DefaultBroker       = BrokerEmbedded
	DefaultListen       = "127.0.0.1:0"
	DefaultQoS          = 1
)

// BrokerEmbedded is the mqtt.broker value that runs a broker inside the host.
const BrokerEmbedded = "embedded"

// Config is a validated rig configuration. All paths in it are resolved:
// absolute if the config's base directory was absolute.
type Config struct {
	// File is the name the config was parsed under (the path given to Load).
	File string
	// Dir is the base directory relative paths were resolved against.
	Dir string
	// Rig names the rig; it matches [A-Za-z0-9_-]+ and appears in MQTT topics.
	Rig string
	// Session holds the session settings.
	Session Session
	// Stimulus, Acquisition and Model are the three plugins.
	Stimulus, Acquisition, Model PluginConfig
	// MQTT says where session events go.
	MQTT MQTT
}

// Session holds the session settings.
type Session struct {
	// Name matches [A-Za-z0-9_-]+; default DefaultSessionName.
	Name string
	// Clock is written "virtual" or "real"; default DefaultClock.
	Clock rig.Clock
	// Protocol is the resolved path of the protocol file, which exists.
	Protocol string
	// Output is the resolved directory for recorded data; default
	// DefaultOutput under the base directory. It may not exist yet.
	Output string
}

// PluginConfig says how to start one plugin.
type PluginConfig struct {
	// Path is the resolved path of the plugin binary, an executable file.
	Path string
	// Args are the command-line arguments, possibly none.
	Args []string
	// Settings is the plugin's settings mapping as a JSON object, in the
	// order written; "{}" when the config gives none. The host hands it to
	// the plugin without looking inside.
	Settings json.RawMessage
	// StartTimeout bounds how long the plugin may take to start; positive,
	// default DefaultStartTimeout.
	StartTimeout time.Duration
	// SHA256 pins the binary: the SHA-256 it must have, 64 lowercase hex
	// digits ("": not pinned). Parse checks it against Path, and the host
	// enforces it again when it starts the binary.
	SHA256 string
	// Insecure turns off mTLS between the host and this plugin (the
	// config's `mtls: false`; default false: go-plugin's AutoMTLS), for a
	// plugin in another language that cannot do the handshake.
	Insecure bool
	// Dir is the plugin's working directory: the config file's directory
	// (Config.Dir), so that a relative path in its settings (a model
	// file, a movie) means the same as a relative path in the config.
	Dir string
}

// MQTT says which broker carries session events.
type MQTT struct {
	// Broker is BrokerEmbedded or the URL of an external broker
	// (tcp, mqtt, ssl, tls or mqtts scheme, with host and port).
	Broker string
	// Listen is the embedded broker's loopback host:port (port 0: the OS
	// picks one); empty for an external broker.
	Listen string
	// Username and Password authenticate with an external broker; Password
	// was read from the environment variable PasswordEnv when that was given.
	Username, Password string
	// PasswordEnv names the environment variable the password came from, if any.
	PasswordEnv string
	// QoS is the MQTT quality of service for events: 0, 1 or 2.
	QoS byte
}

// Embedded reports whether the host runs the broker itself.
func (m MQTT) Embedded() bool { return m.Broker == BrokerEmbedded }

// LogValue lets MQTT settings be logged without the password.
func (m MQTT) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("broker", m.Broker), slog.Int("qos", int(m.QoS))}
	if m.Listen != "" {
		attrs = append(attrs, slog.String("listen", m.Listen))
	}
	if m.Username != "" {
		attrs = append(attrs, slog.String("username", m.Username))
	}
	if m.Password != "" {
		attrs = append(attrs, slog.String("password", "[redacted]"))
	}
	return slog.GroupValue(attrs...)
}

// Load reads and parses the config file at path, resolving relative paths
// against the file's directory. A file that cannot be read gives an error
// naming the path and wrapping the os error (errors.Is(err,
// fs.ErrNotExist) works); an invalid file gives the problems described in
// Parse, with file names as path was given.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config: resolve the directory of %s: %w", path, err)
	}
	return Parse(path, data, dir)
}

// Parse parses and validates a config. name labels problems (normally the
// file's path); relative paths in the config are resolved against baseDir.
//
// On any problem Parse returns a nil Config and an error joining one
// [*Problem] per problem found (see [Problems]), ordered by position; every
// one matches ErrInvalid. A YAML syntax error stops parsing, so it is
// reported alone. Parse reads the file system (the protocol file, plugin
// binaries, the output directory) and the environment (mqtt.password_env),
// and nothing else. It is safe for concurrent use.
func Parse(name string, data []byte, baseDir string) (*Config, error) {
	return parse(name, data, baseDir)
}
