package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// newRig builds a rig directory holding what the test configs refer to:
// three executable plugin binaries, a non-executable file and a protocol.
func newRig(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	require.NoError(tb, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(tb, os.MkdirAll(filepath.Join(dir, "protocols"), 0o755))
	for _, name := range []string{"twinrig-stimulus", "twinrig-acquisition", "twinrig-model"} {
		require.NoError(tb, os.WriteFile(filepath.Join(dir, "bin", name), []byte("#!/bin/sh\n"), 0o755))
	}
	require.NoError(tb, os.WriteFile(filepath.Join(dir, "bin", "not-executable"), []byte("#!/bin/sh\n"), 0o644))
	require.NoError(tb, os.WriteFile(filepath.Join(dir, "protocols", "skeleton.yaml"), []byte("name: skeleton\n"), 0o644))
	return dir
}

// copyInto copies a testdata file into dir and returns the copy's path.
func copyInto(t *testing.T, dir, testdata string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", testdata))
	require.NoError(t, err)
	path := filepath.Join(dir, filepath.Base(testdata))
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

func TestLoadExample(t *testing.T) {
	dir := newRig(t)
	path := copyInto(t, dir, "rig.yaml")

	c, err := Load(path)
	require.NoError(t, err)

	want := &Config{
		File: path,
		Dir:  dir,
		Rig:  "rig-1",
		Session: Session{
			Name:     "demo",
			Clock:    rig.VirtualClock,
			Protocol: filepath.Join(dir, "protocols", "skeleton.yaml"),
			Output:   filepath.Join(dir, "runs"),
		},
		Stimulus: PluginConfig{
			Path:         filepath.Join(dir, "bin", "twinrig-stimulus"),
			Args:         []string{"-log-level", "info"},
			Settings:     json.RawMessage(`{"width":256,"height":144,"fps":60,"background":0.5,"title":"twinrig <demo>"}`),
			StartTimeout: 10 * time.Second,
			Dir:          dir,
		},
		Acquisition: PluginConfig{
			Path:         filepath.Join(dir, "bin", "twinrig-acquisition"),
			Settings:     json.RawMessage(`{"rate_hz":30,"noise_sd":0.1,"indicator":"GCaMP6s"}`),
			StartTimeout: DefaultStartTimeout,
			Dir:          dir,
		},
		Model: PluginConfig{
			Path:         filepath.Join(dir, "bin", "twinrig-model"),
			Settings:     json.RawMessage(`{"onnx":"models/fnn.onnx","neurons":[1,2,3],"gpu":null}`),
			StartTimeout: 90 * time.Second,
			Dir:          dir,
		},
		MQTT: MQTT{Broker: BrokerEmbedded, Listen: "127.0.0.1:0", QoS: 1},
	}
	require.Equal(t, want, c)
	require.True(t, c.MQTT.Embedded())
}

func TestParseDefaults(t *testing.T) {
	dir := newRig(t)
	data, err := os.ReadFile("testdata/minimal.yaml")
	require.NoError(t, err)

	c, err := Parse("minimal.yaml", data, dir)
	require.NoError(t, err)

	require.Equal(t, "r", c.Rig)
	require.Equal(t, Session{
		Name:     DefaultSessionName,
		Clock:    DefaultClock,
		Protocol: filepath.Join(dir, "protocols", "skeleton.yaml"),
		Output:   filepath.Join(dir, DefaultOutput),
	}, c.Session)
	for _, p := range []PluginConfig{c.Stimulus, c.Acquisition, c.Model} {
		require.Empty(t, p.Args)
		require.Equal(t, "{}", string(p.Settings))
		require.Equal(t, DefaultStartTimeout, p.StartTimeout)
		require.False(t, p.Insecure, "mTLS by default")
	}
	require.Equal(t, MQTT{Broker: BrokerEmbedded, Listen: DefaultListen, QoS: DefaultQoS}, c.MQTT)
}

func TestParseAnchorsAndMergeKeys(t *testing.T) {
	dir := newRig(t)
	t.Setenv("TWINRIG_TEST_PASSWORD", "s3cret")
	data, err := os.ReadFile("testdata/anchors.yaml")
	require.NoError(t, err)

	c, err := Parse("anchors.yaml", data, dir)
	require.NoError(t, err)

	require.Equal(t, rig.RealClock, c.Session.Clock)
	// The merged defaults apply; keys written beside the merge key win.
	require.Equal(t, 5*time.Second, c.Stimulus.StartTimeout)
	require.Equal(t, 20*time.Second, c.Acquisition.StartTimeout)
	require.Equal(t, DefaultStartTimeout, c.Model.StartTimeout)
	require.JSONEq(t, `{"seed":7,"tag":"12"}`, string(c.Stimulus.Settings))
	require.JSONEq(t, `{"seed":7,"tag":"12"}`, string(c.Acquisition.Settings))
	require.JSONEq(t, `{"seed":8,"tag":"12","extra":{"seed":7,"tag":"12"}}`, string(c.Model.Settings))
	require.Equal(t, MQTT{
		Broker: "tcp://broker.example.org:1883", Username: "rig",
		Password: "s3cret", PasswordEnv: "TWINRIG_TEST_PASSWORD", QoS: 2,
	}, c.MQTT)
	require.False(t, c.MQTT.Embedded())
}

// TestParseProblems checks that every problem in a bad config is reported,
// all at once, with its position, field and an explanation.
func TestParseProblems(t *testing.T) {
	tests := []struct {
		file string
		env  map[string]string
		want []string // $DIR stands for the rig directory
	}{
		{file: "many.yaml", want: []string{
			`many.yaml:1:6: rig: "rig 1" is not a valid name; expected letters, digits, '_' or '-'`,
			`many.yaml:4:10: session.clock: "fast" is not one of virtual, real`,
			`many.yaml:5:13: session.protocol: "$DIR/protocols/missing.yaml" does not exist`,
			`many.yaml:6:3: session.colour: unknown key; expected one of name, clock, protocol, output`,
			`many.yaml:10:20: plugins.stimulus.start_timeout: got the number 10; expected a duration such as 10s`,
			`many.yaml:12:11: plugins.acquisition.path: "$DIR/bin/not-executable" is not executable (mode -rw-r--r--)`,
			`many.yaml:13:16: plugins.acquisition.args[1]: got a mapping; expected a string`,
			`many.yaml:14:3: plugins.model.path: missing: a plugin binary path is required`,
			`many.yaml:14:21: plugins.model.settings: got a list; expected a mapping (it reaches the plugin as a JSON object)`,
			`many.yaml:16:11: mqtt.broker: "http://example.org" is not a broker; expected "embedded" or a URL such as tcp://host:1883 (schemes tcp, mqtt, ssl, tls, mqtts)`,
			`many.yaml:17:8: mqtt.qos: got the number 3; expected 0, 1 or 2`,
		}},
		{file: "empty.yaml", want: []string{
			`empty.yaml:1:1: rig: missing: a rig name is required`,
			`empty.yaml:1:1: session.protocol: missing: the protocol file path is required`,
			`empty.yaml:1:1: plugins: missing: the stimulus, acquisition and model plugins are required`,
		}},
		{file: "syntax.yaml", want: []string{
			`syntax.yaml:4:1: invalid YAML: ',' or ']' must be specified`,
		}},
		{file: "list.yaml", want: []string{
			`list.yaml:1:1: the file holds a list; expected a mapping with keys rig, session, plugins, mqtt`,
		}},
		{file: "twodocs.yaml", want: []string{
			`twodocs.yaml:8:1: a second YAML document; a config file holds one`,
		}},
		{file: "types.yaml", want: []string{
			`types.yaml:1:6: rig: got the number 123; expected a rig name`,
			`types.yaml:2:10: session: got a list; expected a mapping for the session`,
			`types.yaml:4:13: plugins.stimulus: got "bin/twinrig-stimulus"; expected a mapping for a plugin`,
			`types.yaml:6:11: plugins.acquisition.path: got a mapping; expected a plugin binary path`,
			`types.yaml:7:11: plugins.acquisition.args: got "-v"; expected a list of strings`,
			`types.yaml:8:20: plugins.acquisition.start_timeout: "-1s" is not positive; expected a duration such as 10s`,
			`types.yaml:10:10: plugins.model.path: missing: a plugin binary path is required`,
			`types.yaml:11:15: plugins.model.settings: got "yes"; expected a mapping (it reaches the plugin as a JSON object)`,
			`types.yaml:12:7: mqtt: got "tcp://localhost:1883"; expected a mapping for the MQTT settings`,
		}},
		{file: "external.yaml", want: []string{
			`external.yaml:11:11: mqtt.listen: only applies to the embedded broker; mqtt.broker is "tcp://broker.example.org:1883"`,
			`external.yaml:13:17: mqtt.password_env: conflicts with mqtt.password; give one of them`,
		}},
		{file: "embedded.yaml", want: []string{
			`embedded.yaml:9:11: mqtt.listen: "0.0.0.0:1883" is not a loopback address; the embedded broker accepts every client without authentication, so it listens on 127.0.0.1, ::1 or localhost only`,
			`embedded.yaml:10:13: mqtt.username: only applies to an external broker; the embedded broker takes no credentials`,
			`embedded.yaml:11:8: mqtt.qos: got "1"; expected 0, 1 or 2`,
		}},
		{file: "settings.yaml", want: []string{
			`settings.yaml:8:13: plugins.stimulus.settings.gain: .inf cannot be represented in JSON; expected a finite number`,
			`settings.yaml:9:22: plugins.stimulus.settings.offsets[1]: .nan cannot be represented in JSON; expected a finite number`,
			`settings.yaml:10:12: plugins.stimulus.settings.ref: alias *nowhere names no anchor defined before it`,
			`settings.yaml:13:22: plugins.acquisition.settings.rate: tag !custom is not supported; expected a plain value`,
			`settings.yaml:17:12: plugins.model.settings: merge key (<<) got the number 1 in its list; expected mappings`,
		}},
		{file: "paths.yaml", want: []string{
			`paths.yaml:3:13: session.protocol: "$DIR/protocols" is not a regular file`,
			`paths.yaml:4:11: session.output: "$DIR/protocols/skeleton.yaml" exists and is not a directory`,
			`paths.yaml:6:20: plugins.stimulus.path: "$DIR/bin" is not a regular file; expected an executable`,
			`paths.yaml:7:23: plugins.acquisition.path: "/nonexistent/twinrig-acquisition" does not exist`,
			`paths.yaml:8:17: plugins.model.path: empty: a plugin binary path is required`,
		}},
		{file: "unknown.yaml", want: []string{
			`unknown.yaml:1:1: session.protocol: missing: the protocol file path is required`,
			`unknown.yaml:2:1: sesion: unknown key; expected one of rig, session, plugins, mqtt`,
			`unknown.yaml:5:42: plugins.stimulus.setings: unknown key; expected one of path, args, settings, start_timeout, sha256, mtls`,
			`unknown.yaml:8:3: plugins.extra: unknown key; expected one of stimulus, acquisition, model`,
			`unknown.yaml:10:3: mqtt.brokr: unknown key; expected one of broker, listen, username, password, password_env, qos`,
		}},
		{file: "password.yaml", want: []string{
			`password.yaml:10:17: mqtt.password_env: environment variable "TWINRIG_UNSET_VARIABLE" is not set`,
		}},
		{file: "password.yaml", env: map[string]string{"TWINRIG_UNSET_VARIABLE": ""}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := newRig(t)
			data, err := os.ReadFile(filepath.Join("testdata", "bad", tc.file))
			require.NoError(t, err)

			c, err := Parse(tc.file, data, dir)

			if tc.want == nil {
				require.NoError(t, err)
				require.NotNil(t, c)
				return
			}
			require.Error(t, err)
			require.Nil(t, c)
			want := strings.ReplaceAll(strings.Join(tc.want, "\n"), "$DIR", dir)
			require.Equal(t, want, err.Error())
			problems := Problems(err)
			require.Len(t, problems, len(tc.want))
			for _, p := range problems {
				require.ErrorIs(t, p, ErrInvalid)
				require.ErrorIs(t, p, rig.ErrInvalid)
				require.Equal(t, tc.file, p.File)
			}
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

func TestParseExpansionBound(t *testing.T) {
	dir := newRig(t)
	// Each level doubles the previous one: 2^20 values from a few lines.
	var b strings.Builder
	b.WriteString("rig: r\nsession: {protocol: protocols/skeleton.yaml}\nx-bomb:\n  l0: &l0 [1, 1]\n")
	for i := 1; i <= 20; i++ {
		b.WriteString(fmt.Sprintf("  l%d: &l%d [*l%d, *l%d]\n", i, i, i-1, i-1))
	}
	b.WriteString("plugins:\n  stimulus: {path: bin/twinrig-stimulus, settings: {v: *l20}}\n")
	b.WriteString("  acquisition: {path: bin/twinrig-acquisition}\n  model: {path: bin/twinrig-model}\n")

	_, err := Parse("bomb.yaml", []byte(b.String()), dir)

	problems := Problems(err)
	require.Len(t, problems, 1, "got %v", err)
	require.True(t, strings.HasPrefix(problems[0].Field, "plugins.stimulus.settings.v[0]"), problems[0].Field)
	require.Equal(t, "expands to more than 65536 values through aliases", problems[0].Msg)
}

func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		is   error
	}{
		{name: "missing file", path: filepath.Join(dir, "nope.yaml"), is: fs.ErrNotExist},
		{name: "directory", path: dir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.path)
			require.Nil(t, c)
			require.ErrorContains(t, err, "config: read "+tc.path+": ")
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			require.Empty(t, Problems(err))
		})
	}
}

func TestLoadNamesProblemsByPath(t *testing.T) {
	dir := newRig(t)
	path := filepath.Join(dir, "rig.yaml")
	require.NoError(t, os.WriteFile(path, []byte("rig: r\nsession: {protocol: protocols/skeleton.yaml}\nplugins: {}\n"), 0o644))

	_, err := Load(path)

	require.Equal(t, strings.Join([]string{
		path + ":3:1: plugins.stimulus: missing: the stimulus plugin is required",
		path + ":3:1: plugins.acquisition: missing: the acquisition plugin is required",
		path + ":3:1: plugins.model: missing: the model plugin is required",
	}, "\n"), err.Error())
}

func TestValidBrokerURL(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{"tcp://127.0.0.1:1883", true},
		{"mqtt://broker.example.org:1883", true},
		{"ssl://broker:8883", true},
		{"tls://broker:8883", true},
		{"mqtts://[::1]:8883", true},
		{"tcp://broker:1883/", true},
		{"tcp://broker", false},
		{"tcp://:1883", false},
		{"tcp://broker:0", false},
		{"tcp://broker:65536", false},
		{"tcp://user:pw@broker:1883", false},
		{"tcp://broker:1883/topic", false},
		{"ws://broker:80", false},
		{"broker:1883", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			require.Equal(t, tc.want, validBrokerURL(tc.url))
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.0.0.2:1883", true},
		{"[::1]:1883", true},
		{"localhost:1883", true},
		{"0.0.0.0:1883", false},
		{"192.168.1.2:1883", false},
		{":1883", false},
		{"[::]:1883", false},
		{"127.0.0.1", false},
		{"127.0.0.1:99999", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			require.Equal(t, tc.ok, checkLoopback(tc.addr) == "", checkLoopback(tc.addr))
		})
	}
}

func TestMQTTLogValueHidesPassword(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))

	log.Info("mqtt", "settings", MQTT{Broker: "tcp://b:1883", Username: "rig", Password: "s3cret", QoS: 1})

	require.Contains(t, buf.String(), "settings.username=rig")
	require.Contains(t, buf.String(), "settings.password=[redacted]")
	require.NotContains(t, buf.String(), "s3cret")
}

func TestProblemsOfOtherErrors(t *testing.T) {
	require.Nil(t, Problems(nil))
	require.Nil(t, Problems(errors.New("x")))
	p := &Problem{File: "f", Line: 1, Column: 2, Msg: "m"}
	require.Equal(t, []*Problem{p}, Problems(errors.Join(errors.New("x"), p)))
	require.Equal(t, "f:1:2: m", p.Error())
}

func BenchmarkParse(b *testing.B) {
	dir := newRig(b)
	data, err := os.ReadFile("testdata/rig.yaml")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("rig.yaml", data, dir); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPluginSHA256: a plugin's sha256 pins its binary; a malformed one and
// one the binary does not have are problems with their positions.
func TestPluginSHA256(t *testing.T) {
	dir := newRig(t)
	sum := sha256.Sum256([]byte("#!/bin/sh\n"))
	good := hex.EncodeToString(sum[:])
	wrong := strings.Repeat("0", 64)
	cfg, err := Parse("rig.yaml", []byte(`rig: r
session: {protocol: protocols/skeleton.yaml}
plugins:
  stimulus: {path: bin/twinrig-stimulus, sha256: `+strings.ToUpper(good)+`}
  acquisition: {path: bin/twinrig-acquisition}
  model: {path: bin/twinrig-model}
`), dir)
	require.NoError(t, err)
	require.Equal(t, good, cfg.Stimulus.SHA256, "kept in lowercase")
	require.Empty(t, cfg.Acquisition.SHA256)

	_, err = Parse("rig.yaml", []byte(`rig: r
session: {protocol: protocols/skeleton.yaml}
plugins:
  stimulus: {path: bin/twinrig-stimulus, sha256: `+wrong+`}
  acquisition: {path: bin/twinrig-acquisition, sha256: xyz}
  model: {path: bin/twinrig-model, sha256: 12}
`), dir)
	require.ErrorIs(t, err, ErrInvalid)
	msg := err.Error()
	require.Contains(t, msg, `rig.yaml:4:50: plugins.stimulus.sha256: the stimulus plugin's binary "`+filepath.Join(dir, "bin", "twinrig-stimulus")+
		`" does not match: expected sha256 `+wrong+`, actual `+good)
	require.Contains(t, msg, `rig.yaml:5:56: plugins.acquisition.sha256: "xyz" is not a SHA-256; expected 64 hex digits`)
	require.Contains(t, msg, `rig.yaml:6:44: plugins.model.sha256: "12" is not a SHA-256; expected 64 hex digits`)
}

// TestPluginMTLS: mtls: false turns mTLS off for one plugin; anything but a
// boolean is a problem with its position.
func TestPluginMTLS(t *testing.T) {
	dir := newRig(t)
	cfg, err := Parse("rig.yaml", []byte(`rig: r
session: {protocol: protocols/skeleton.yaml}
plugins:
  stimulus: {path: bin/twinrig-stimulus, mtls: false}
  acquisition: {path: bin/twinrig-acquisition, mtls: true}
  model: {path: bin/twinrig-model}
`), dir)
	require.NoError(t, err)
	require.True(t, cfg.Stimulus.Insecure)
	require.False(t, cfg.Acquisition.Insecure)
	require.False(t, cfg.Model.Insecure)

	_, err = Parse("rig.yaml", []byte(`rig: r
session: {protocol: protocols/skeleton.yaml}
plugins:
  stimulus: {path: bin/twinrig-stimulus, mtls: "false"}
  acquisition: {path: bin/twinrig-acquisition, mtls: off}
  model: {path: bin/twinrig-model, mtls: }
`), dir)
	require.ErrorIs(t, err, ErrInvalid)
	msg := err.Error()
	require.Contains(t, msg, `rig.yaml:4:48: plugins.stimulus.mtls: got "false"; expected true (the default) or false, unquoted`)
	require.Contains(t, msg, `rig.yaml:5:54: plugins.acquisition.mtls: got "off"; expected true (the default) or false, unquoted`)
	require.Contains(t, msg, `rig.yaml:6:41: plugins.model.mtls: got null; expected true (the default) or false, unquoted`)
}
