package rig

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// LaunchConfig says how to start a plugin binary.
type LaunchConfig struct {
	// Kind is the plugin kind the binary must serve.
	Kind Kind
	// Path is the plugin binary.
	Path string
	// Args are passed to the binary.
	Args []string
	// Env is added to the host's environment for the plugin.
	Env []string
	// Dir is the plugin's working directory ("": the host's), against
	// which relative paths in its settings resolve.
	Dir string
	// StartTimeout bounds the handshake (default 10 s).
	StartTimeout time.Duration
	// LogOutput receives the plugin's log lines (default os.Stderr).
	LogOutput io.Writer
	// LogLevel is the lowest plugin log level forwarded: "debug", "info"
	// (default), "warn" or "error".
	LogLevel string
	// SHA256 pins the binary: when set, the SHA-256 of Path, in hex (64
	// digits, either case), that the binary must have to be started. It is
	// checked before the start and enforced by go-plugin's SecureConfig
	// right before the binary runs ("": any binary).
	SHA256 string
	// Insecure turns off go-plugin's AutoMTLS for this plugin: the host
	// then talks to it in plaintext (on a Unix socket in the host's
	// private directory). Only for a plugin, written without go-plugin,
	// that cannot do the mTLS handshake (rig/proto/README.md, "Transport
	// security").
	Insecure bool
}

// ErrChecksum: a plugin binary's SHA-256 is not the one it is pinned to.
var ErrChecksum = errors.New("plugin binary does not match its pinned sha256")

// Process is a running plugin subprocess. Its methods are safe for
// concurrent use.
type Process struct {
	kind   Kind
	path   string
	sha256 string
	client *plugin.Client
	raw    any
	// pgid is the plugin's process group (0: none of its own); killed
	// once, after the plugin's exit.
	pgid      int
	groupOnce sync.Once
	// sockets: the plugin counts in the host's private socket directory
	// (released once, by Kill).
	sockets     bool
	socketsOnce sync.Once
}

// ErrProtocolVersion: the plugin speaks another version of the contract.
var ErrProtocolVersion = errors.New("plugin protocol version mismatch")

// Launch starts the plugin binary, performs the handshake and connects to
// its service. Every error names the kind and the binary. On error no
// process is left running.
func Launch(cfg LaunchConfig) (*Process, error) {
	name := fmt.Sprintf("%s plugin %q", cfg.Kind, cfg.Path)
	var p plugin.Plugin
	switch cfg.Kind {
	case KindStimulus:
		p = &stimulusPlugin{}
	case KindAcquisition:
		p = &acquisitionPlugin{}
	case KindModel:
		p = &modelPlugin{}
	default:
		return nil, fmt.Errorf("launch %q: unknown plugin kind %q (want stimulus, acquisition or model): %w", cfg.Path, cfg.Kind, ErrInvalid)
	}
	st, err := os.Stat(cfg.Path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: binary not found: %w (run `make` to build the plugins)", name, err)
	case st.IsDir() || st.Mode()&0o111 == 0:
		return nil, fmt.Errorf("%s: not an executable file: %w", name, ErrInvalid)
	}
	sum, err := FileSHA256(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var secure *plugin.SecureConfig
	if cfg.SHA256 != "" {
		want, err := hex.DecodeString(cfg.SHA256)
		if err != nil || len(want) != sha256.Size {
			return nil, fmt.Errorf("%s: pinned sha256 %q is not 64 hex digits: %w", name, cfg.SHA256, ErrInvalid)
		}
		if got := hex.EncodeToString(want); got != sum {
			return nil, fmt.Errorf("%s: %w: expected %s, actual %s", name, ErrChecksum, got, sum)
		}
		secure = &plugin.SecureConfig{Checksum: want, Hash: sha256.New()}
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	out := cfg.LogOutput
	if out == nil {
		out = os.Stderr
	}
	level := hclog.LevelFromString(cfg.LogLevel)
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	sockDir, err := acquireSocketDir()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Not CommandContext: the host owns shutdown and ends plugins with Kill,
	// which lets them exit gracefully first.
	cmd := exec.Command(cfg.Path, cfg.Args...)
	cmd.Dir = cfg.Dir
	// The host's environment, then cfg.Env, then the socket directory: a
	// later entry wins. (go-plugin's UnixSocketConfig.TempDir does not reach
	// a plugin started with Cmd, so the directory is passed here; and
	// SkipHostEnv keeps go-plugin from appending the host's environment
	// again, over these.)
	cmd.Env = append(os.Environ(), cfg.Env...)
	if sockDir != "" {
		cmd.Env = append(cmd.Env, plugin.EnvUnixSocketDir+"="+sockDir)
	}
	ownProcessGroup(cmd)
	tail := &tailWriter{max: 2048}
	client := plugin.NewClient(&plugin.ClientConfig{
		Stderr:           tail,
		HandshakeConfig:  handshake,
		Plugins:          plugin.PluginSet{string(cfg.Kind): p},
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     timeout,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin." + string(cfg.Kind), Output: out, Level: level}),
		GRPCDialOptions:  dialOptions(),
		SecureConfig:     secure,
		AutoMTLS:         !cfg.Insecure,
	})
	proc := &Process{kind: cfg.Kind, path: cfg.Path, sha256: sum, client: client, sockets: sockDir != ""}
	protocol, err := client.Client()
	if cmd.SysProcAttr != nil && cmd.Process != nil {
		proc.pgid = cmd.Process.Pid // its group's id
	}
	if err != nil {
		proc.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			// The binary changed between the check above and its start.
			return nil, fmt.Errorf("%s: %w: expected %s; the binary changed while it was being started", name, ErrChecksum, cfg.SHA256)
		}
		return nil, fmt.Errorf("%s: failed to start: %w", name, launchError(err, tail.lastLine()))
	}
	proc.raw, err = protocol.Dispense(string(cfg.Kind))
	if err != nil {
		proc.Kill()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// gRPC connects lazily: one health call here, so that a plugin the
	// host cannot talk to (one that does not do AutoMTLS) fails to
	// launch instead of failing its first call.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err = proc.Ping(ctx)
	cancel()
	if err != nil {
		proc.Kill()
		return nil, fmt.Errorf("%s: started, but %w", name, connectError(err, cfg.Kind, !cfg.Insecure))
	}
	return proc, nil
}

// FileSHA256 returns the SHA-256 of the file at path, in lowercase hex.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("sha256 of %q: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("sha256 of %q: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// launchError rewrites go-plugin's start errors into ones that say what to do.
func launchError(err error, lastLog string) error {
	msg := err.Error()
	if lastLog != "" {
		lastLog = "; its last log line: " + lastLog
	}
	switch {
	case strings.Contains(msg, "Failed to read any lines from plugin's stdout"):
		return fmt.Errorf("the plugin exited before the handshake%s: %w", lastLog, ErrUnavailable)
	case strings.Contains(msg, "incompatible API version"):
		return fmt.Errorf("%w: %s; this host speaks version %d (rebuild the plugin against this twinrig release)", ErrProtocolVersion, msg, ProtocolVersion)
	case strings.Contains(msg, "exited before we could connect"):
		return fmt.Errorf("the plugin exited during the handshake%s: %w", lastLog, err)
	case strings.Contains(msg, "timeout while waiting"):
		return fmt.Errorf("no handshake within the start timeout (is it a twinrig plugin?): %w", err)
	}
	return err
}

// Kind returns the plugin's kind.
func (p *Process) Kind() Kind { return p.kind }

// Path returns the plugin binary's path.
func (p *Process) Path() string { return p.path }

// SHA256 returns the SHA-256 of the plugin binary as it was started, in
// lowercase hex.
func (p *Process) SHA256() string { return p.sha256 }

// Stimulus returns the plugin's Stimulus client, or nil for another kind.
func (p *Process) Stimulus() Stimulus { s, _ := p.raw.(Stimulus); return s }

// Acquisition returns the plugin's Acquisition client, or nil for another kind.
func (p *Process) Acquisition() Acquisition { a, _ := p.raw.(Acquisition); return a }

// Model returns the plugin's Model client, or nil for another kind.
func (p *Process) Model() Model { m, _ := p.raw.(Model); return m }

// Exited reports whether the plugin process has exited.
func (p *Process) Exited() bool { return p.client.Exited() }

// Pid returns the process id, or 0 when it is not running.
func (p *Process) Pid() int {
	if rc := p.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Kill asks the plugin to shut down gracefully, then kills it after two
// seconds, and waits for it to exit. The plugin runs in a process group
// of its own (on Unix); Kill then ends what is left of the group, the
// processes the plugin started, so none outlives the host. After the last
// running plugin, it removes the host's private socket directory. It is
// safe to call more than once.
func (p *Process) Kill() {
	p.client.Kill()
	p.killGroup()
	p.socketsOnce.Do(func() {
		if p.sockets {
			releaseSocketDir()
		}
	})
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.max {
		w.buf = w.buf[len(w.buf)-w.max:]
	}
	return len(p), nil
}

// lastLine returns the last non-empty line written.
func (w *tailWriter) lastLine() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(w.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// connectError explains why the host could not talk to a plugin that
// started.
func connectError(err error, kind Kind, mtls bool) error {
	if mtls {
		return fmt.Errorf("the host cannot connect to it over mTLS (%w); a plugin must answer go-plugin's AutoMTLS: read the host's certificate from PLUGIN_CLIENT_CERT, serve TLS with a certificate of its own and print that certificate as the handshake line's sixth field; one that cannot needs mTLS turned off (plugins.%s.mtls: false in the rig config); see rig/proto/README.md, \"Transport security\"", err, kind)
	}
	return fmt.Errorf("the host cannot connect to it: %w", err)
}
