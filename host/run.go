package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/twinrig/twinrig/host/config"
	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/record"
	"github.com/twinrig/twinrig/host/selection"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/host/supervise"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

func runCommand(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("run", "run [flags] CONFIG", stderr)
	logLevel := fs.String("log-level", "info", "lowest log level shown: debug, info, warn or error")
	quiet := fs.Bool("quiet", false, "print no progress lines, only the summary")
	await := fs.Duration("await-subscriber", 0, "with the embedded broker, wait up to this long for an MQTT client to subscribe to the session's topics before starting (0: don't wait)")
	resume := fs.String("resume", "", "continue the interrupted session recorded in this session directory (runs/<session>): completed blocks are not run again")
	restarts := fs.Int("restarts", 1, "when a plugin dies, restart the plugins and continue the session from its record up to this many times (0: stop the session)")
	path, code := parseArgs(fs, args)
	if code >= 0 {
		return code
	}
	level, err := parseLevel(*logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "twinrig run: %v\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, exp, err := loadExperiment(path)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *restarts < 0 {
		fmt.Fprintf(stderr, "twinrig run: -restarts %d, want 0 or more\n", *restarts)
		return exitUsage
	}
	h := &hostRun{cfg: cfg, exp: exp, resumeDir: *resume, restarts: *restarts, log: log, level: level, logLevel: *logLevel, stdout: stdout, stderr: stderr, quiet: *quiet, await: *await}
	return h.run(ctx)
}

// hostRun is one `twinrig run`.
type hostRun struct {
	cfg *config.Config
	exp *protocols.Experiment
	// resumeDir is the session directory of the session to continue ("":
	// a new session).
	resumeDir string
	// restarts is how many times a plugin's death restarts the plugins.
	restarts int
	log      *slog.Logger
	level    slog.Level
	logLevel string
	stdout   io.Writer
	stderr   io.Writer
	quiet    bool
	await    time.Duration
	// launcher starts the plugins (nil: their binaries).
	launcher supervise.Launcher
	// why is why the next attempt starts, as its resumed journal entry
	// says: "resume", "restart of <plugin>" ("": the session's start).
	why string
	// tally is the record counted over every attempt, once the session
	// ran (nil: not counted); the finished event carries its counts.
	tally *record.Tally
}

func (h *hostRun) run(ctx context.Context) int {
	name := sessionName(h.cfg.Session.Name, time.Now())
	var resume *session.Resume
	if h.resumeDir != "" {
		var err error
		if resume, err = h.readResume(); err != nil {
			fmt.Fprintf(h.stderr, "twinrig: %v\n", err)
			return exitUsage
		}
		if resume.Finished {
			// Nothing to resume: the record is left exactly as it is.
			fmt.Fprintf(h.stdout, "session %s already finished (it ran to its end): nothing to resume, its record is unchanged\n", h.resumeDir)
			return exitOK
		}
		name = filepath.Base(filepath.Clean(h.resumeDir))
		h.why = "resume"
	}
	events, brokerURL, closeEvents, err := startEvents(ctx, h.cfg, name, h.await, h)
	if err != nil {
		fmt.Fprintf(h.stderr, "twinrig: %v\n", err)
		return exitFailed
	}
	defer closeEvents()
	// Events go to MQTT, and to the session's journal once it exists.
	emitTo := &journalEmitter{next: events, log: h.log}
	control := session.NewSteering()
	stopCommands, err := events.listenForCommands(ctx, control, emitTo, h)
	if err != nil {
		h.log.Warn("no control commands over MQTT for this session", "err", err)
	} else {
		defer stopCommands()
	}
	// A plugin that dies hands over to a restart: the plugins start again
	// and the session continues from its record, as -resume does.
	code, dir := exitFailed, ""
	err = h.supervisor().Run(ctx, h.restarts, func(watched context.Context, a supervise.Attempt) error {
		var died error
		code, died, dir = h.session(ctx, watched, a, name, brokerURL, emitTo, control, resume)
		return died
	}, func(n int, died error) error {
		h.resumeDir = dir
		h.why = "restart"
		if p := supervise.PluginOf(died); p != "" {
			h.why = "restart of " + p
		}
		var err error
		if resume, err = h.readResume(); err != nil {
			fmt.Fprintf(h.stderr, "twinrig: cannot resume after the plugin failure: %v\n", err)
			code = exitFailed
			return err
		}
		fmt.Fprintf(h.stdout, "restarting the plugins and resuming session %s from its record (restart %d of %d)\n", name, n, h.restarts)
		return nil
	})
	if se := (*supervise.StartError)(nil); errors.As(err, &se) {
		return h.fail(ctx, emitTo, se.Err, nil)
	}
	return code
}

// supervisor returns the supervisor of this run's plugins.
func (h *hostRun) supervisor() *supervise.Supervisor {
	l := h.launcher
	if l == nil {
		l = supervise.Binaries{LogLevel: h.logLevel}
	}
	s := &supervise.Supervisor{Config: h.cfg, Launcher: l, Log: h.log}
	return s.ForClock(h.cfg.Session.Clock)
}

// fail reports a failed session and returns the exit code: err is why,
// res what was measured, or nil. ctx is the run's (its error tells an
// interruption).
func (h *hostRun) fail(ctx context.Context, emitTo session.Emitter, err error, res *session.Result) int {
	// One plain line, not a log record: it is what the user reads.
	if errors.Is(err, session.ErrAborted) {
		fmt.Fprintf(h.stderr, "twinrig: %v; everything recorded until then is kept\n", err)
	} else {
		fmt.Fprintf(h.stderr, "twinrig: session failed: %v\n", err)
	}
	bg := context.WithoutCancel(ctx)
	_ = emitTo.Emit(bg, events.ErrorReport{Message: err.Error(), Plugin: supervise.PluginOf(err)})
	status, code := exitStatus(ctx, err)
	_ = emitTo.Emit(bg, h.finishedEvent(status, res))
	return code
}

// exitStatus is the finished status and exit code of a session that ended
// with err (nil: done) in a run whose context is ctx.
func exitStatus(ctx context.Context, err error) (string, int) {
	switch {
	case err == nil:
		return "ok", exitOK
	case errors.Is(err, session.ErrAborted):
		return "aborted", exitAborted
	case ctx.Err() != nil:
		return "interrupted", exitInterrupted
	}
	return "error", exitFailed
}

// session runs the experiment once with the plugins of attempt a
// (resuming when resume is set) and returns the exit code. ctx is the
// run's context, watched the attempt's (cancelled too when a plugin
// exits). When a plugin died and a restart follows (not a.Last), it
// reports the death and returns it with the session directory to resume
// from instead of failing the session.
func (h *hostRun) session(ctx, watched context.Context, a supervise.Attempt, name, brokerURL string, emitTo *journalEmitter,
	control *session.Steering, resume *session.Resume) (code int, died error, dir string) {
	plugins := a.Plugins.Session()
	h.tally = nil
	// The session's attempt: 0 at its start, one more at each restart or
	// resumption (the rows of the record and the launched entries carry
	// it).
	attempt := 0
	if resume != nil {
		attempt = resume.Attempt
	}
	// Every mismatch is found before a session directory exists (a
	// resumed session's directory exists already).
	info, err := h.checkPlugins(ctx, plugins, resume == nil)
	if err != nil {
		return h.fail(ctx, emitTo, err, nil), nil, ""
	}
	var rec *record.Dir
	if resume != nil {
		rec, err = record.Open(h.resumeDir, attempt, h.log)
		if err == nil {
			done := make([]string, 0, len(resume.Done))
			for _, st := range h.exp.Stages {
				if _, ok := resume.Done[st.Name]; ok {
					done = append(done, st.Name)
				}
			}
			err = rec.Journal(events.Resumed{Version: version, FromS: resume.From.Seconds(), Completed: done, Attempt: attempt, Reason: h.why})
		}
	} else {
		rec, err = record.Create(filepath.Join(h.cfg.Session.Output, name), info.Acquisition.Neurons)
		if err == nil {
			err = h.keepInputs(rec)
		}
	}
	if err != nil {
		return h.fail(ctx, emitTo, err, nil), nil, ""
	}
	emitTo.record(rec)
	journalLaunches(rec, supervise.Attempt{N: attempt, Last: a.Last, Plugins: a.Plugins}, h.log)
	if err := writeHostFile(rec.Path(), hostFile{
		Session: name, Rig: h.cfg.Rig, PID: os.Getpid(), Broker: brokerURL, ControlTopic: eventsControlTopic(h.cfg.Rig),
	}); err != nil {
		h.log.Warn("writing host.json", "err", err)
	}
	defer func() {
		emitTo.record(nil) // late control events go to MQTT only
		if err := rec.Close(); err != nil {
			h.log.Error("closing the recording", "err", err)
		}
	}()

	clock := h.cfg.Session.Clock
	fmt.Fprintf(h.stdout, "session %s: protocol %s (%s, %d blocks), %d neurons, %s clock, recording to %s\n",
		name, h.exp.Name, h.exp.Duration(), len(h.exp.Stages), info.Acquisition.Neurons, clock, rec.Path())
	res, runErr := session.RunExperiment(watched, plugins, h.exp, session.Options{
		Clock: clock, Events: emitTo, Recorder: rec, Logger: h.log, Progress: h.progress(), ReadoutDir: absPath(rec.Path()),
		Steering: control, Selector: selection.New(h.log, h.progressWriter()), Resume: resume,
	})
	if runErr != nil && !errors.Is(runErr, session.ErrAborted) && ctx.Err() == nil {
		// A plugin that died is named: its gRPC error says less.
		runErr = a.Plugins.Explain(watched, runErr)
		if supervise.Died(runErr) && !a.Last {
			// Report which plugin died and hand over to a restart; the
			// journal holds the completed stages.
			fmt.Fprintf(h.stderr, "twinrig: %v\n", runErr)
			_ = emitTo.Emit(context.WithoutCancel(ctx), events.ErrorReport{Message: runErr.Error(), Plugin: supervise.PluginOf(runErr)})
			return 0, runErr, rec.Path()
		}
	}
	status, _ := exitStatus(ctx, runErr)
	if status == string(events.StatusOK) && res != nil && res.Lag.Lagged() {
		// It ran to its end, but fell behind the real clock.
		status = string(events.StatusDegraded)
	}
	if res != nil {
		h.printSummary(res)
		if h.tally, err = record.ReadTally(rec.Path()); err != nil {
			h.log.Error("counting the record for the summary", "err", err)
		}
		if err := rec.WriteSummary(wholeSummary(summary(name, status, h.exp, res, runErr), h.tally)); err != nil {
			h.log.Error("writing the summary", "err", err)
		}
	}
	if runErr != nil {
		return h.fail(ctx, emitTo, runErr, res), nil, ""
	}
	fin := h.finishedEvent(status, res)
	fin.Output = rec.Path()
	_ = emitTo.Emit(ctx, fin)
	if fin.Status == events.StatusDegraded {
		// A degraded session exits 0: its record is complete; the status
		// says it lagged.
		fmt.Fprintf(h.stdout, "session %s finished degraded: %s\n", name, fin.Lagged)
	}
	return exitOK, nil, ""
}

// finishedEvent is the payload of the finished event; res is what was
// measured, or nil.
func finishedEvent(status string, res *session.Result) events.Finished {
	f := events.Finished{Status: events.Status(status)}
	if res != nil && f.Status == events.StatusDegraded {
		f.Lagged = res.Lag.String()
	}
	if res != nil {
		f.DurationS, f.WallS = res.Duration.Seconds(), res.Wall.Seconds()
		f.FramesShown, f.FramesDropped, f.Scans = int64(res.FramesShown), int64(res.FramesDropped), int64(res.Scans)
	}
	return f
}

// finishedEvent is finishedEvent with the counts of the whole session
// (every attempt) when its record was counted.
func (h *hostRun) finishedEvent(status string, res *session.Result) events.Finished {
	f := finishedEvent(status, res)
	if t := h.tally; t != nil && res != nil {
		f.FramesShown, f.FramesDropped, f.Scans = int64(t.Frames), int64(t.Dropped), int64(t.Scans)
		f.Predictions, f.Attempts = int64(t.Predictions), len(t.Attempts)
	}
	return f
}

// sessionTotals is summary.json: the last attempt's summary with the
// counts of the whole session, over every attempt, and each attempt's.
type sessionTotals struct {
	sessionSummary
	// Predictions counts the rows of predictions.csv.
	Predictions int              `json:"predictions"`
	Attempts    []record.Attempt `json:"attempts"`
}

// wholeSummary makes summary.json of the last attempt's summary s and the
// record's tally t (nil: not counted; the counts are the last attempt's,
// with no attempts).
func wholeSummary(s sessionSummary, t *record.Tally) sessionTotals {
	out := sessionTotals{sessionSummary: s, Predictions: s.ModelFrames}
	if t == nil {
		return out
	}
	out.FramesShown, out.FramesDropped, out.Scans = t.Frames, t.Dropped, t.Scans
	out.ModelFrames, out.Predictions, out.Attempts = t.Predictions, t.Predictions, t.Attempts
	return out
}

// absPath makes a path absolute (plugins may run in another directory).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// keepInputs copies the config and the protocol into the session
// directory and opens the journal with what produced the session.
func (h *hostRun) keepInputs(rec *record.Dir) error {
	entry := events.SessionEntry{Version: version, PluginProtocol: rig.ProtocolVersion, Rig: h.cfg.Rig}
	for _, in := range []struct {
		name, path string
		rec        *events.Input
	}{{"config.yaml", h.cfg.File, &entry.Config}, {"protocol.yaml", h.cfg.Session.Protocol, &entry.Protocol}} {
		data, err := os.ReadFile(in.path)
		if err != nil {
			return fmt.Errorf("recording the session's inputs: %w", err)
		}
		if err := rec.Keep(in.name, data); err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		*in.rec = events.Input{Path: absPath(in.path), SHA256: hex.EncodeToString(sum[:])}
	}
	return rec.Journal(entry)
}

// journalEmitter records every event in the session's journal (synced to
// disk), once there is one, before it goes out over MQTT: the journal is
// the session's crash-safe record, MQTT its live view. Safe for concurrent
// use.
type journalEmitter struct {
	next session.Emitter
	log  *slog.Logger
	mu   sync.Mutex
	rec  *record.Dir
}

// record starts journaling into rec.
func (j *journalEmitter) record(rec *record.Dir) {
	j.mu.Lock()
	j.rec = rec
	j.mu.Unlock()
}

func (j *journalEmitter) Emit(ctx context.Context, p events.Payload) error {
	j.mu.Lock()
	rec := j.rec
	j.mu.Unlock()
	if rec != nil {
		if err := rec.Journal(p); err != nil {
			j.log.Error("journal entry not recorded", "kind", p.Kind(), "err", err)
		}
	}
	return j.next.Emit(ctx, p)
}

// loadExperiment reads the config and its protocol (format 1 or 2) and
// does not check them against the plugins (see hostRun.preflight).
func loadExperiment(path string) (*config.Config, *protocols.Experiment, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	exp, err := protocols.LoadExperiment(cfg.Session.Protocol)
	if err != nil {
		return nil, nil, err
	}
	return cfg, exp, nil
}

// readResume reads what the interrupted session in h.resumeDir completed:
// its journal (which must be of this protocol) and the selections of its
// completed select stages.
func (h *hostRun) readResume() (*session.Resume, error) {
	protocol, err := os.ReadFile(h.cfg.Session.Protocol)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	sum := sha256.Sum256(protocol)
	f, err := os.Open(filepath.Join(h.resumeDir, "journal.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("resume: %s is not a session directory: %w", h.resumeDir, err)
	}
	defer f.Close()
	rs, err := session.ReadResume(f, h.exp, hex.EncodeToString(sum[:]))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	// The stages a pending adapt stage needs are replayed from the record
	// rather than shown again, when it holds them.
	if names := rs.ReplayCandidates(); len(names) > 0 {
		if err := rs.LoadReplay(h.resumeDir); err != nil {
			h.log.Warn("resume: the stages the adapt stage needs are shown again, not replayed", "stages", names, "err", err)
		}
	}
	// The journal names the readout relative to the session directory
	// (journals of earlier versions: absolute, kept as they are).
	if rs.Readout != "" && !filepath.IsAbs(rs.Readout) {
		rs.Readout = filepath.Join(absPath(h.resumeDir), filepath.FromSlash(rs.Readout))
	}
	for _, st := range h.exp.Stages {
		if _, done := rs.Done[st.Name]; !done || st.Kind != protocols.KindSelect {
			continue
		}
		targets, err := record.ReadSelection(h.resumeDir, st.Name)
		if err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		rs.Selections[st.Name] = targets
	}
	return rs, nil
}

// progressWriter is where progress lines go (nil with -quiet).
func (h *hostRun) progressWriter() io.Writer {
	if h.quiet {
		return nil
	}
	return h.stdout
}
