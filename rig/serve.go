package rig

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ServeOption changes how a plugin serves.
type ServeOption func(*serveOptions)

type serveOptions struct {
	maxMessageBytes int
}

// WithMaxMessageBytes overrides MaxMessageBytes for this plugin.
func WithMaxMessageBytes(n int) ServeOption {
	return func(o *serveOptions) { o.maxMessageBytes = n }
}

// ServeStimulus serves s as a stimulus plugin and returns when the host
// disconnects. A binary started by hand, not by the host, prints an
// explanation and exits with status 1. Nothing else may write to stdout:
// it carries the handshake (log to stderr, e.g. with Logger).
func ServeStimulus(s Stimulus, opts ...ServeOption) {
	serve(KindStimulus, &stimulusPlugin{impl: s}, opts)
}

// ServeAcquisition serves a as an acquisition plugin; see ServeStimulus.
func ServeAcquisition(a Acquisition, opts ...ServeOption) {
	serve(KindAcquisition, &acquisitionPlugin{impl: a}, opts)
}

// ServeModel serves m as a model plugin; see ServeStimulus.
func ServeModel(m Model, opts ...ServeOption) {
	serve(KindModel, &modelPlugin{impl: m}, opts)
}

// CPUProfileEnv names an environment variable: when it holds a path P, a
// plugin writes a CPU profile of its whole run to P.<kind> (e.g.
// /tmp/p.prof.model; go tool pprof reads it).
const CPUProfileEnv = "TWINRIG_PLUGIN_CPUPROFILE"

func serve(kind Kind, p plugin.Plugin, opts []ServeOption) {
	if path := os.Getenv(CPUProfileEnv); path != "" {
		if f, err := os.Create(path + "." + string(kind)); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
		}
	}
	o := serveOptions{maxMessageBytes: MaxMessageBytes}
	for _, opt := range opts {
		opt(&o)
	}
	go exitWithParent(kind, os.Getppid(), orphanCheckInterval)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         plugin.PluginSet{string(kind): p},
		GRPCServer: func(gopts []grpc.ServerOption) *grpc.Server {
			gopts = append(gopts, serverOptions(o.maxMessageBytes)...)
			return grpc.NewServer(gopts...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: string(kind), Level: hclog.Info, Output: os.Stderr, JSONFormat: true,
		}),
	})
}

// orphanCheckInterval is how often a plugin checks that its host lives.
const orphanCheckInterval = 250 * time.Millisecond

// exitWithParent ends the plugin process when the process that started it
// (the host) is gone: a host killed with SIGKILL cannot stop its plugins,
// and an orphaned stimulus plugin would keep the display, an acquisition
// plugin the microscope stream. The orphan is re-parented, so its parent
// pid changes.
func exitWithParent(kind Kind, parent int, every time.Duration) {
	for {
		time.Sleep(every)
		if os.Getppid() != parent {
			fmt.Fprintf(os.Stderr, "twinrig %s plugin: the host (pid %d) is gone; exiting\n", kind, parent)
			os.Exit(3)
		}
	}
}

// Logger returns a slog logger for use inside a plugin process. It writes
// JSON lines to stderr in the form the host's plugin launcher understands,
// so each record arrives in the host's log with its level and attributes.
func Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00")) // the layout go-plugin parses
			case slog.LevelKey:
				return slog.String("@level", levelName(a.Value.Any()))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	}))
}

func levelName(v any) string {
	l, ok := v.(slog.Level)
	if !ok {
		return "info"
	}
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
