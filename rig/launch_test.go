package rig_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

// helperEnv makes the test binary act as a plugin (see TestMain).
const helperEnv = "TWINRIG_RIG_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "model":
		rig.ServeModel(&rigfake.Model{Neurons: 3, Width: 2, Height: 1})
		os.Exit(0)
	case "truthful-acquisition":
		rig.ServeAcquisition(&truthfulAcquisition{Acquisition: rigfake.Acquisition{Neurons: 4}})
		os.Exit(0)
	case "model-v2":
		// A plugin built against a future contract version.
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: plugin.HandshakeConfig{
				ProtocolVersion: rig.ProtocolVersion + 1, MagicCookieKey: rig.MagicCookieKey, MagicCookieValue: rig.MagicCookieValue,
			},
			Plugins: plugin.PluginSet{},
		})
		os.Exit(0)
	case "exit":
		fmt.Fprintln(os.Stderr, "cannot open the microscope")
		os.Exit(3)
	case "model-plaintext":
		// A plugin that does not do go-plugin's AutoMTLS (as one written
		// in another language may not): it ignores the host's certificate
		// and serves in plaintext.
		os.Unsetenv("PLUGIN_CLIENT_CERT")
		rig.ServeModel(&rigfake.Model{Neurons: 3, Width: 2, Height: 1})
		os.Exit(0)
	case "host":
		// A host that launches a model plugin, says so, and waits to be
		// killed.
		exe, _ := os.Executable()
		p, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: exe, Env: []string{helperEnv + "=model"}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("ready %d\n", p.Pid())
		time.Sleep(time.Minute)
		os.Exit(0)
	}
}

func launchSelf(t *testing.T, kind rig.Kind, mode string) (*rig.Process, error) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	p, err := rig.Launch(rig.LaunchConfig{Kind: kind, Path: exe, Env: []string{helperEnv + "=" + mode}})
	if p != nil {
		t.Cleanup(p.Kill)
	}
	return p, err
}

func TestLaunchModelRoundTrip(t *testing.T) {
	p, err := launchSelf(t, rig.KindModel, "model")
	require.NoError(t, err)
	require.NotZero(t, p.Pid())
	m := p.Model()
	require.NotNil(t, m)
	require.Nil(t, p.Stimulus(), "a model process has no stimulus client")
	ctx := context.Background()
	_, err = m.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{}`)})
	require.NoError(t, err)
	frame := rig.Frame{Width: 2, Height: 1, Pixels: []byte{10, 20}}
	resp, err := m.Predict(ctx, rig.PredictRequest{Frames: []rig.Frame{frame}})
	require.NoError(t, err)
	require.Equal(t, [][]float32{rigfake.Response(frame, 3)}, resp.Responses)

	_, err = m.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"bogus": 1}`)})
	require.ErrorIs(t, err, rig.ErrInvalid, "sentinel errors must survive the process boundary")
	require.Contains(t, err.Error(), `unknown setting "bogus"`)

	p.Kill()
	require.True(t, p.Exited())
}

func TestLaunchRefusesOtherProtocolVersion(t *testing.T) {
	_, err := launchSelf(t, rig.KindModel, "model-v2")
	require.ErrorIs(t, err, rig.ErrProtocolVersion)
	require.Contains(t, err.Error(), "Plugin version: 2")
	require.Contains(t, err.Error(), "this host speaks version 1")
	require.Contains(t, err.Error(), "model plugin")
}

func TestLaunchPluginExitsAtStart(t *testing.T) {
	_, err := launchSelf(t, rig.KindAcquisition, "exit")
	require.Error(t, err)
	require.Contains(t, err.Error(), "acquisition plugin")
	require.Contains(t, err.Error(), "exited before the handshake")
	require.Contains(t, err.Error(), "cannot open the microscope", "the plugin's last log line explains why")
}

func TestLaunchMissingBinary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-plugin")
	_, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindStimulus, Path: path})
	require.Error(t, err)
	require.Contains(t, err.Error(), "stimulus plugin")
	require.Contains(t, err.Error(), path)
	require.Contains(t, err.Error(), "not found")
}

func TestLaunchNotExecutable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin.txt")
	require.NoError(t, os.WriteFile(path, []byte("hello"), 0o644))
	_, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: path})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "not an executable")
}

func TestLaunchUnknownKind(t *testing.T) {
	_, err := rig.Launch(rig.LaunchConfig{Kind: "camera", Path: "/bin/true"})
	require.ErrorIs(t, err, rig.ErrInvalid)
}

// TestLaunchPinnedSHA256: a binary pinned to its own hash starts and tells
// it; one pinned to another hash is refused, naming both hashes.
func TestLaunchPinnedSHA256(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	sum, err := rig.FileSHA256(exe)
	require.NoError(t, err)
	require.Len(t, sum, 64)
	env := []string{helperEnv + "=model"}

	p, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: exe, Env: env, SHA256: strings.ToUpper(sum)})
	require.NoError(t, err)
	t.Cleanup(p.Kill)
	require.Equal(t, sum, p.SHA256())

	wrong := strings.Repeat("ab", 32)
	_, err = rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: exe, Env: env, SHA256: wrong})
	require.ErrorIs(t, err, rig.ErrChecksum)
	for _, want := range []string{"model plugin", exe, "expected " + wrong, "actual " + sum} {
		require.Contains(t, err.Error(), want)
	}

	_, err = rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: exe, Env: env, SHA256: "abc"})
	require.ErrorIs(t, err, rig.ErrInvalid)
}

// TestLaunchUnpinnedRecordsSHA256: an unpinned binary's hash is known too.
func TestLaunchUnpinnedRecordsSHA256(t *testing.T) {
	p, err := launchSelf(t, rig.KindModel, "model")
	require.NoError(t, err)
	sum, err := rig.FileSHA256(p.Path())
	require.NoError(t, err)
	require.Equal(t, sum, p.SHA256())
}

// TestLaunchAutoMTLS: the host requires go-plugin's AutoMTLS, so a plugin
// that serves in plaintext cannot be called, and the error says what to
// do; with Insecure the same plugin works.
func TestLaunchAutoMTLS(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	env := []string{helperEnv + "=model-plaintext"}
	p, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: exe, Env: env})
	if p != nil {
		p.Kill()
	}
	require.Error(t, err, "a plaintext plugin must not be reachable with AutoMTLS on")
	for _, want := range []string{"model plugin", "mTLS", "PLUGIN_CLIENT_CERT", "plugins.model.mtls: false"} {
		require.Contains(t, err.Error(), want)
	}

	p, err = rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: exe, Env: env, Insecure: true})
	require.NoError(t, err)
	t.Cleanup(p.Kill)
	_, err = p.Model().Configure(context.Background(), rig.ConfigureRequest{Settings: json.RawMessage(`{}`)})
	require.NoError(t, err)
}
