package supervise_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/supervise"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fastHeartbeat shortens s's heartbeat: a ping every 20 ms, 40 ms each,
// hung after 2 misses: detected within 20 + 2×40 = 100 ms of a hang (plus
// scheduling).
func fastHeartbeat(s *supervise.Supervisor) *supervise.Supervisor {
	s.Heartbeat, s.PingTimeout, s.Misses = 20*time.Millisecond, 40*time.Millisecond, 2
	return s
}

func TestHeartbeatDetectsAHungPluginNamesAndKillsIt(t *testing.T) {
	for _, kind := range rig.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			var log syncBuffer
			s := fastHeartbeat(supervisor(rigConfig(), launcher()))
			s.Log = slogTo(&log)
			p, err := s.Start(t.Context())
			require.NoError(t, err)
			defer p.Kill()
			ctx, stop := p.Watch(t.Context())
			defer stop()
			time.Sleep(100 * time.Millisecond) // some answered pings
			require.NoError(t, ctx.Err(), "a plugin that answers is not hung")

			proc := p.Process(kind).(*supervise.LoopbackProcess)
			hungAt := time.Now()
			proc.Hang()
			awaitDone(t, ctx)
			detected := time.Since(hungAt)
			t.Logf("%s plugin hung: detected after %v (window %v)", kind, detected, 20*time.Millisecond+2*40*time.Millisecond)
			// The window is 100 ms; the margin is for a loaded machine.
			require.Less(t, detected, 2*time.Second)

			cause := context.Cause(ctx)
			require.True(t, supervise.Died(cause), "a hang is handled as a death: %v", cause)
			require.Equal(t, string(kind), supervise.PluginOf(cause))
			require.Regexp(t, `^`+string(kind)+` plugin "`+proc.Path()+`" hung: no answer for \d+\.\ds; killed it: plugin unavailable$`, cause.Error())
			// (The watch is cancelled first, then the process is killed.)
			require.Eventually(t, proc.Aborted, 10*time.Second, time.Millisecond, "killed at once (SIGKILL), not asked to exit")
			require.True(t, proc.Exited())
			require.Equal(t, cause, p.Hung(kind))
			for _, other := range rig.Kinds() {
				if other != kind {
					require.NoError(t, p.Hung(other))
					require.False(t, p.Process(other).Exited(), "the others run on")
				}
			}
			// The call the kill broke is explained by the hang.
			_, callErr := p.Session().Model.Describe(context.Background(), rig.DescribeRequest{})
			require.Equal(t, cause, p.Explain(ctx, callErr))
			require.Contains(t, p.Explain(t.Context(), callErr).Error(), "hung: no answer for")

			logged := log.String()
			require.Contains(t, logged, `msg="plugin hung; killing it" kind=`+string(kind)+` path=`+proc.Path())
			require.Regexp(t, `silent=\d+ms reason="hung: no answer for \d+\.\ds"`, logged)
		})
	}
}

func TestHeartbeatToleratesAShortSilence(t *testing.T) {
	s := supervisor(rigConfig(), launcher())
	s.Heartbeat, s.PingTimeout, s.Misses = 20*time.Millisecond, 200*time.Millisecond, 2
	p, err := s.Start(t.Context())
	require.NoError(t, err)
	defer p.Kill()
	ctx, stop := p.Watch(t.Context())
	defer stop()
	proc := p.Process(rig.KindModel).(*supervise.LoopbackProcess)
	proc.Hang()
	time.Sleep(50 * time.Millisecond) // less than one ping's timeout
	proc.Unhang()
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, ctx.Err(), "one slow ping is no hang")
	require.False(t, proc.Exited())
}

func TestNoHeartbeat(t *testing.T) {
	s := fastHeartbeat(supervisor(rigConfig(), launcher()))
	s.Heartbeat = -1
	p, err := s.Start(t.Context())
	require.NoError(t, err)
	ctx, stop := p.Watch(t.Context())
	defer stop()
	p.Process(rig.KindModel).(*supervise.LoopbackProcess).Hang()
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, ctx.Err())
	p.Kill() // a hung plugin that does not answer is killed at once
	require.True(t, p.Process(rig.KindModel).(*supervise.LoopbackProcess).Aborted())
}

// slowModel answers Describe after delay.
type slowModel struct {
	rigfake.Model
	delay time.Duration
}

func (m *slowModel) Describe(ctx context.Context, req rig.DescribeRequest) (rig.ModelInfo, error) {
	select {
	case <-time.After(m.delay):
	case <-ctx.Done():
		return rig.ModelInfo{}, ctx.Err()
	}
	return m.Model.Describe(ctx, req)
}

func TestACallPastItsDeadlineDeclaresThePluginHung(t *testing.T) {
	l := launcher()
	l.Model = func() rig.Model { return &slowModel{delay: time.Minute} }
	s := supervisor(rigConfig(), l)
	s.Deadlines = map[string]time.Duration{"model.Describe": 50 * time.Millisecond}
	p, err := s.Start(t.Context())
	require.NoError(t, err)
	defer p.Kill()
	ctx, stop := p.Watch(t.Context())
	defer stop()

	start := time.Now()
	_, callErr := p.Session().Model.Describe(ctx, rig.DescribeRequest{})
	took := time.Since(start)
	require.Error(t, callErr)
	require.Contains(t, callErr.Error(), "Describe gave no answer within 50ms")
	require.Less(t, took, 10*time.Second)
	awaitDone(t, ctx)
	cause := context.Cause(ctx)
	require.True(t, supervise.Died(cause))
	require.Equal(t, "model", supervise.PluginOf(cause))
	require.EqualError(t, cause, `model plugin "bin/model" hung: model.Describe gave no answer within 50ms; killed it: plugin unavailable`)
	require.Equal(t, cause, p.Explain(ctx, callErr))
	require.Eventually(t, p.Process(rig.KindModel).(*supervise.LoopbackProcess).Aborted, 10*time.Second, time.Millisecond)

	// A call within its deadline, and one without a deadline, are no hang.
	l2 := launcher()
	l2.Model = func() rig.Model { return &slowModel{delay: 30 * time.Millisecond} }
	s2 := supervisor(rigConfig(), l2)
	s2.Deadlines = map[string]time.Duration{"model.Describe": 5 * time.Second}
	p2, err := s2.Start(t.Context())
	require.NoError(t, err)
	defer p2.Kill()
	_, err = p2.Session().Model.Describe(t.Context(), rig.DescribeRequest{})
	require.NoError(t, err)
	require.NoError(t, p2.Hung(rig.KindModel))
}

// A session stuck in a call to a hung plugin is freed by the heartbeat
// and continues after a restart, its restart told that the plugin hung.
func TestRunRestartsAfterAHang(t *testing.T) {
	l := launcher()
	s := fastHeartbeat(supervisor(rigConfig(), l))
	var died []error
	attempts := 0
	err := s.Run(t.Context(), 1, func(ctx context.Context, a supervise.Attempt) error {
		attempts++
		if a.N > 0 {
			return nil
		}
		a.Plugins.Process(rig.KindModel).(*supervise.LoopbackProcess).Hang()
		<-ctx.Done() // a call that would wait for the hung plugin
		return a.Plugins.Explain(ctx, ctx.Err())
	}, func(n int, err error) error {
		died = append(died, err)
		require.Empty(t, l.Running(), "the plugins are killed before a restart")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, attempts)
	require.Len(t, died, 1)
	require.Equal(t, "model", supervise.PluginOf(died[0]))
	require.Contains(t, died[0].Error(), `model plugin "bin/model" hung: no answer for`)
	require.Empty(t, l.Running())
}
