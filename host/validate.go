package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

func validateCommand(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("validate", "validate CONFIG", stderr)
	path, code := parseArgs(fs, args)
	if code >= 0 {
		return code
	}
	cfg, exp, err := loadExperiment(path)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Plugin logs below warnings would bury the verdict.
	h := &hostRun{cfg: cfg, exp: exp, logLevel: "warn", stdout: stdout, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	info, err := h.preflight(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	var kinds []string
	for _, k := range protocols.Kinds() {
		if n := count(exp, k); n > 0 {
			kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
		}
	}
	fmt.Fprintf(stdout, "%s: ok (rig %s, protocol %s: %d blocks (%s), %s of stimuli)\n",
		cfg.File, cfg.Rig, exp.Name, len(exp.Stages), strings.Join(kinds, ", "), exp.Duration())
	fmt.Fprintf(stdout, "  stimulus     %s: %g Hz, families %s%s\n", info.Stimulus.Name, info.Stimulus.RefreshRateHz,
		strings.Join(info.Stimulus.Families, " "), capabilities("renders", info.Stimulus.Renders, "sequences", info.Stimulus.Sequences))
	fmt.Fprintf(stdout, "  acquisition  %s: %d neurons at %g Hz%s\n", info.Acquisition.Name, info.Acquisition.Neurons,
		info.Acquisition.ImagingRateHz, capabilities("ignores frames", info.Acquisition.IgnoresFrames, "tells truth", info.Acquisition.TellsTruth))
	fmt.Fprintf(stdout, "  model        %s: %d neurons, %dx%d at %g Hz on %s%s\n", info.Model.Name, info.Model.Neurons,
		info.Model.Width, info.Model.Height, info.Model.FrameRateHz, info.Model.Device,
		capabilities("adapts", info.Model.Adapts, "evaluates", info.Model.Evaluates, "features", info.Model.Features))
	return exitOK
}

// capabilities lists the named capabilities that are true, as "; a, b".
func capabilities(pairs ...any) string {
	var on []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1].(bool) {
			on = append(on, pairs[i].(string))
		}
	}
	if len(on) == 0 {
		return ""
	}
	return "; " + strings.Join(on, ", ")
}

// count returns the number of stages of a kind.
func count(e *protocols.Experiment, k protocols.Kind) int {
	n := 0
	for _, s := range e.Stages {
		if s.Kind == k {
			n++
		}
	}
	return n
}

// preflight does what a session does before its first frame, and stops
// there: it launches the plugins, hands them their settings (the model
// plugin loads its model), asks each to describe itself and checks them
// against each other, the protocol (session.Preflight) and the output
// directory. It reports every problem it finds, each naming the file,
// field, plugin or block, and leaves no plugin running.
func (h *hostRun) preflight(ctx context.Context) (session.Info, error) {
	p, err := h.supervisor().Start(ctx)
	if err != nil {
		return session.Info{}, err
	}
	defer p.Kill()
	return h.checkPlugins(ctx, p.Session(), true)
}

// checkPlugins asks the configured plugins to describe themselves and
// checks them against each other, the protocol (session.Preflight) and,
// when output is set, the output directory; every problem at once. run
// and validate both call it before anything is shown.
func (h *hostRun) checkPlugins(ctx context.Context, plugins session.Plugins, output bool) (session.Info, error) {
	info, _, err := session.Describe(ctx, plugins)
	if info.Unpaired != nil && errors.Is(err, info.Unpaired) {
		err = nil // session.Preflight decides: fine when the protocol adapts
	}
	if err != nil {
		return info, err
	}
	render, _ := plugins.Stimulus.(rig.Renderer)
	errs := []error{session.Preflight(ctx, h.exp, info, render)}
	if output {
		errs = append(errs, checkOutput(h.cfg.File, h.cfg.Session.Output, recordingBytes(h.exp, info)))
	}
	return info, errors.Join(errs...)
}

// recordingBytes estimates what a session of exp records with these
// plugins: every scan's values and every prediction as CSV text (about 12
// bytes a value), every shown frame's log line, and the journal's events.
func recordingBytes(exp *protocols.Experiment, info session.Info) int64 {
	secs := exp.Duration().Seconds()
	scans := secs * info.Acquisition.ImagingRateHz
	values := scans * float64(info.Acquisition.Neurons+info.Model.Neurons+8)
	frames := secs * info.Stimulus.RefreshRateHz
	return int64(12*values + 96*frames + 16<<20)
}

// checkOutput checks that the output directory (or, while it does not
// exist, its nearest existing parent) is a directory this process can
// create files in, with room for need bytes twice over.
func checkOutput(file, dir string, need int64) error {
	at := dir
	for {
		st, err := os.Stat(at)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s: session.output: %s is not a directory: %w", file, at, rig.ErrInvalid)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: session.output: %w", file, err)
		}
		parent := filepath.Dir(at)
		if parent == at {
			return fmt.Errorf("%s: session.output: no existing directory above %s: %w", file, dir, rig.ErrInvalid)
		}
		at = parent
	}
	probe, err := os.CreateTemp(at, ".twinrig-validate-*")
	if err != nil {
		return fmt.Errorf("%s: session.output: %s is not writable: %w", file, at, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	var fs syscall.Statfs_t
	if err := syscall.Statfs(at, &fs); err == nil {
		free := int64(fs.Bavail) * int64(fs.Bsize)
		if free < 2*need {
			return fmt.Errorf("%s: session.output: %s has %d MB free, the session records about %d MB (want twice that free): %w",
				file, at, free>>20, need>>20, rig.ErrInvalid)
		}
	}
	return nil
}
