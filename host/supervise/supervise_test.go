package supervise_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/config"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/host/supervise"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

// launcher returns an in-process launcher of rigfake's plugins.
func launcher() *supervise.InProcess {
	return &supervise.InProcess{
		Stimulus:    func() rig.Stimulus { return &rigfake.Stimulus{} },
		Acquisition: func() rig.Acquisition { return &rigfake.Acquisition{} },
		Model:       func() rig.Model { return &rigfake.Model{} },
	}
}

// rigConfig names the three plugins; refused lists the kinds given a
// setting, which rigfake's plugins refuse (they take none).
func rigConfig(refused ...rig.Kind) *config.Config {
	settings := func(kind rig.Kind) json.RawMessage {
		for _, k := range refused {
			if k == kind {
				return json.RawMessage(`{"refuse": true}`)
			}
		}
		return json.RawMessage(`{}`)
	}
	return &config.Config{
		File:        "rig.yaml",
		Stimulus:    config.PluginConfig{Path: "bin/stim", Settings: settings(rig.KindStimulus)},
		Acquisition: config.PluginConfig{Path: "bin/acq", Settings: settings(rig.KindAcquisition)},
		Model:       config.PluginConfig{Path: "bin/model", Settings: settings(rig.KindModel)},
	}
}

// supervisor supervises l's plugins as cfg names them, watching every
// millisecond.
func supervisor(cfg *config.Config, l supervise.Launcher) *supervise.Supervisor {
	return &supervise.Supervisor{Config: cfg, Launcher: l, Poll: time.Millisecond}
}

// pluginErrors returns the plugin errors err joins, by kind.
func pluginErrors(t *testing.T, err error) map[rig.Kind]*session.PluginError {
	t.Helper()
	out := map[rig.Kind]*session.PluginError{}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var pe *session.PluginError
		require.ErrorAs(t, e, &pe)
		out[pe.Kind] = pe
	}
	return out
}

func TestStartLaunchesAndConfiguresAllThree(t *testing.T) {
	l := launcher()
	p, err := supervisor(rigConfig(), l).Start(t.Context())
	require.NoError(t, err)
	sp := p.Session()
	require.NotNil(t, sp.Stimulus)
	require.NotNil(t, sp.Acquisition)
	require.NotNil(t, sp.Model)
	info, err := sp.Model.Describe(t.Context(), rig.DescribeRequest{})
	require.NoError(t, err, "the clients reach the plugins")
	require.Equal(t, "rigfake-model", info.Name)
	for _, kind := range rig.Kinds() {
		require.Equal(t, kind, p.Process(kind).Kind())
	}
	require.Len(t, l.Running(), 3)
	p.Kill()
	require.Empty(t, l.Running(), "nothing left running")
	for _, proc := range l.Launched() {
		require.True(t, proc.Killed(), "%s killed", proc.Kind())
	}
	p.Kill() // again: harmless
}

func TestStartReportsEveryFailure(t *testing.T) {
	errNoBinary := errors.New("binary not found")
	for _, tc := range []struct {
		name string
		// fail lists the kinds that fail to launch, refuse the kinds that
		// refuse their settings.
		fail, refuse []rig.Kind
		want         map[rig.Kind]string
		wantIs       error
	}{
		{
			name: "the model fails to launch", fail: []rig.Kind{rig.KindModel},
			want:   map[rig.Kind]string{rig.KindModel: `model plugin "bin/model": failed to start: binary not found`},
			wantIs: errNoBinary,
		},
		{
			name: "two fail to launch", fail: []rig.Kind{rig.KindStimulus, rig.KindAcquisition},
			want: map[rig.Kind]string{
				rig.KindStimulus:    `stimulus plugin "bin/stim": failed to start: binary not found`,
				rig.KindAcquisition: `acquisition plugin "bin/acq": failed to start: binary not found`,
			},
			wantIs: errNoBinary,
		},
		{
			name: "bad settings in two plugins", refuse: []rig.Kind{rig.KindStimulus, rig.KindModel},
			want: map[rig.Kind]string{
				rig.KindStimulus: `stimulus plugin: rig.yaml: plugins.stimulus.settings: stimulus.Configure: rigfake stimulus: unknown setting "refuse" (the fake takes none): invalid argument`,
				rig.KindModel:    `model plugin: rig.yaml: plugins.model.settings: model.Configure: rigfake model: unknown setting "refuse" (the fake takes none): invalid argument`,
			},
			wantIs: rig.ErrInvalid,
		},
		{
			name: "a launch failure comes before the settings", fail: []rig.Kind{rig.KindAcquisition}, refuse: []rig.Kind{rig.KindModel},
			want:   map[rig.Kind]string{rig.KindAcquisition: `acquisition plugin "bin/acq": failed to start: binary not found`},
			wantIs: errNoBinary,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := launcher()
			l.Fail = func(kind rig.Kind, _ config.PluginConfig) error {
				for _, k := range tc.fail {
					if k == kind {
						return errNoBinary
					}
				}
				return nil
			}
			p, err := supervisor(rigConfig(tc.refuse...), l).Start(t.Context())
			require.Nil(t, p)
			require.ErrorIs(t, err, tc.wantIs)
			got := map[rig.Kind]string{}
			for kind, pe := range pluginErrors(t, err) {
				got[kind] = pe.Error()
				require.Equal(t, string(kind), supervise.PluginOf(pe))
			}
			require.Equal(t, tc.want, got)
			require.Len(t, l.Launched(), 3-len(tc.fail), "the others were launched")
			require.Empty(t, l.Running(), "and killed")
		})
	}
}

func TestBinariesNameTheKindAndBinary(t *testing.T) {
	cfg := rigConfig()
	cfg.Model.Path = t.TempDir() + "/no-such-plugin"
	cfg.Stimulus.Path, cfg.Acquisition.Path = cfg.Model.Path, cfg.Model.Path
	_, err := supervisor(cfg, supervise.Binaries{}).Start(t.Context())
	pes := pluginErrors(t, err)
	require.Len(t, pes, 3)
	for kind, pe := range pes {
		require.Contains(t, pe.Error(), fmt.Sprintf("%s plugin %q: binary not found", kind, cfg.Model.Path))
	}
}

// awaitDone waits for ctx to end, failing the test after a generous
// deadline.
func awaitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the context was not cancelled")
	}
}

func TestWatchCancelsNamingThePluginThatDied(t *testing.T) {
	for _, kind := range rig.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			l := launcher()
			p, err := supervisor(rigConfig(), l).Start(t.Context())
			require.NoError(t, err)
			defer p.Kill()
			ctx, stop := p.Watch(t.Context())
			defer stop()
			require.NoError(t, ctx.Err())

			p.Process(kind).(*supervise.LoopbackProcess).Die()
			awaitDone(t, ctx)
			cause := context.Cause(ctx)
			require.ErrorIs(t, cause, rig.ErrUnavailable)
			require.True(t, supervise.Died(cause))
			require.Equal(t, string(kind), supervise.PluginOf(cause))
			require.Contains(t, cause.Error(), string(kind)+" plugin")
			require.Contains(t, cause.Error(), p.Process(kind).Path())

			// The call the death broke is explained by it.
			_, callErr := p.Session().Model.Describe(context.Background(), rig.DescribeRequest{})
			require.Equal(t, cause, p.Explain(ctx, callErr))
		})
	}
}

func TestExplain(t *testing.T) {
	errCall := errors.New("rpc error: connection closed")
	l := launcher()
	p, err := supervisor(rigConfig(), l).Start(t.Context())
	require.NoError(t, err)
	defer p.Kill()

	require.Equal(t, errCall, p.Explain(t.Context(), errCall), "no plugin died: the error as it is")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	require.Equal(t, errCall, p.Explain(cancelled, errCall), "an interruption is no plugin's death")

	p.Process(rig.KindAcquisition).(*supervise.LoopbackProcess).Die()
	got := p.Explain(t.Context(), errCall)
	require.True(t, supervise.Died(got))
	require.Equal(t, "acquisition", supervise.PluginOf(got))
	require.EqualError(t, got, `acquisition plugin "bin/acq" exited unexpectedly (plugin unavailable); the session stopped: rpc error: connection closed`)
}

func TestWatchEndsWithItsStopFunction(t *testing.T) {
	p, err := supervisor(rigConfig(), launcher()).Start(t.Context())
	require.NoError(t, err)
	defer p.Kill()
	ctx, stop := p.Watch(t.Context())
	stop()
	require.ErrorIs(t, context.Cause(ctx), context.Canceled)
	require.False(t, supervise.Died(context.Cause(ctx)))
}

func TestDiedAndPluginOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		died   bool
		plugin string
	}{
		{"nil", nil, false, ""},
		{"no plugin", rig.ErrUnavailable, false, ""},
		{"a plugin's other error", &session.PluginError{Kind: rig.KindModel, Err: rig.ErrInvalid}, false, "model"},
		{"a plugin's death", &session.PluginError{Kind: rig.KindStimulus, Err: rig.ErrUnavailable}, true, "stimulus"},
		{"wrapped", fmt.Errorf("block a: %w", &session.PluginError{Kind: rig.KindAcquisition, Err: rig.ErrUnavailable}), true, "acquisition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.died, supervise.Died(tc.err))
			require.Equal(t, tc.plugin, supervise.PluginOf(tc.err))
		})
	}
}

// dieIn makes the plugin of kind die and returns what a session would:
// the error of a call it broke, explained.
func dieIn(t *testing.T, ctx context.Context, a supervise.Attempt, kind rig.Kind) error {
	a.Plugins.Process(kind).(*supervise.LoopbackProcess).Die()
	awaitDone(t, ctx)
	_, err := a.Plugins.Session().Model.Describe(ctx, rig.DescribeRequest{})
	return a.Plugins.Explain(ctx, err)
}

func TestRunRestartsUpToNTimes(t *testing.T) {
	errOther := errors.New("the protocol failed")
	errResume := errors.New("no record to resume from")
	for _, tc := range []struct {
		name     string
		restarts int
		// deaths is how many attempts a plugin dies in (the ones after
		// succeed), other makes the first attempt fail otherwise.
		deaths      int
		other       bool
		failRestart bool
		// failLaunch makes launches after the first three fail.
		failLaunch   bool
		wantAttempts int
		wantRestarts []int
		wantDied     bool
		wantIs       error
		wantStart    bool
	}{
		{name: "no death", restarts: 1, wantAttempts: 1},
		{name: "one death, one restart", restarts: 1, deaths: 1, wantAttempts: 2, wantRestarts: []int{1}},
		{name: "two deaths, three restarts", restarts: 3, deaths: 2, wantAttempts: 3, wantRestarts: []int{1, 2}},
		{name: "restarts exhausted", restarts: 2, deaths: 5, wantAttempts: 3, wantRestarts: []int{1, 2}, wantDied: true},
		{name: "no restarts", restarts: 0, deaths: 1, wantAttempts: 1, wantDied: true},
		{name: "another error is not restarted", restarts: 2, other: true, wantAttempts: 1, wantIs: errOther},
		{name: "the restart cannot resume", restarts: 2, deaths: 1, failRestart: true, wantAttempts: 1, wantRestarts: []int{1}, wantIs: errResume},
		{name: "the restart cannot launch", restarts: 2, deaths: 1, failLaunch: true, wantAttempts: 1, wantRestarts: []int{1}, wantStart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := launcher()
			var mu sync.Mutex
			launches := 0
			l.Fail = func(rig.Kind, config.PluginConfig) error {
				mu.Lock()
				defer mu.Unlock()
				launches++
				if tc.failLaunch && launches > 3 {
					return rig.ErrUnavailable
				}
				return nil
			}
			var attempts []supervise.Attempt
			var restarts []int
			body := func(ctx context.Context, a supervise.Attempt) error {
				attempts = append(attempts, a)
				require.Len(t, l.Running(), 3, "attempt %d runs with three plugins", a.N)
				switch {
				case tc.other:
					return errOther
				case a.N < tc.deaths:
					return dieIn(t, ctx, a, rig.KindModel)
				}
				return nil
			}
			restart := func(n int, died error) error {
				restarts = append(restarts, n)
				require.True(t, supervise.Died(died))
				require.Empty(t, l.Running(), "the plugins are killed before a restart")
				if tc.failRestart {
					return errResume
				}
				return nil
			}
			err := supervisor(rigConfig(), l).Run(t.Context(), tc.restarts, body, restart)

			require.Len(t, attempts, tc.wantAttempts)
			for i, a := range attempts {
				require.Equal(t, i, a.N)
				require.Equal(t, i >= tc.restarts, a.Last, "attempt %d's Last", i)
			}
			require.Equal(t, tc.wantRestarts, restarts)
			require.Empty(t, l.Running(), "nothing left running")
			switch {
			case tc.wantDied:
				require.True(t, supervise.Died(err), "%v", err)
				require.Equal(t, "model", supervise.PluginOf(err))
			case tc.wantIs != nil:
				require.ErrorIs(t, err, tc.wantIs)
			case tc.wantStart:
				var se *supervise.StartError
				require.ErrorAs(t, err, &se)
				require.Equal(t, 1, se.Attempt)
			default:
				require.NoError(t, err)
			}
		})
	}
}

// A first start that fails is no death to restart from, though the error
// says a plugin is unavailable.
func TestRunDoesNotRestartAFailedStart(t *testing.T) {
	l := launcher()
	l.Fail = func(kind rig.Kind, _ config.PluginConfig) error {
		if kind == rig.KindStimulus {
			return fmt.Errorf("the plugin exited before the handshake: %w", rig.ErrUnavailable)
		}
		return nil
	}
	called := false
	err := supervisor(rigConfig(), l).Run(t.Context(), 3, func(context.Context, supervise.Attempt) error {
		called = true
		return nil
	}, func(int, error) error { t.Fatal("restarted"); return nil })
	require.False(t, called)
	var se *supervise.StartError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 0, se.Attempt)
	require.Equal(t, "stimulus", supervise.PluginOf(err))
	require.Empty(t, l.Running())
}

func TestStartLogsEveryPlugin(t *testing.T) {
	var buf bytes.Buffer
	s := supervisor(rigConfig(), launcher())
	s.Log = slogTo(&buf)
	p, err := s.Start(t.Context())
	require.NoError(t, err)
	p.Kill()
	for _, kind := range rig.Kinds() {
		require.Contains(t, buf.String(), `msg="plugin started" kind=`+string(kind))
	}
}

// slogTo logs everything to w.
func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
