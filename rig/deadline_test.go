package rig_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

// stuckModel never answers Describe (until its context ends).
type stuckModel struct{ rigfake.Model }

func (m *stuckModel) Describe(ctx context.Context, _ rig.DescribeRequest) (rig.ModelInfo, error) {
	<-ctx.Done()
	return rig.ModelInfo{}, ctx.Err()
}

func TestDeadlinesBoundEachCallAndReportOverruns(t *testing.T) {
	c, closeFn, err := rig.LoopbackModel(&stuckModel{rigfake.Model{Neurons: 1, Width: 2, Height: 1}})
	require.NoError(t, err)
	defer closeFn()
	var mu sync.Mutex
	var expired []string
	m := rig.Deadlines{Calls: map[string]time.Duration{"Describe": 30 * time.Millisecond, "Predict": time.Minute}, Expired: func(method string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		expired = append(expired, method+" "+d.String())
	}}.Model(c)

	_, err = m.Describe(t.Context(), rig.DescribeRequest{})
	require.ErrorContains(t, err, "Describe gave no answer within 30ms")
	require.Equal(t, []string{"Describe 30ms"}, expired)

	// The caller's own end is no overrun.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	_, err = m.Describe(ctx, rig.DescribeRequest{})
	require.Error(t, err)
	require.Len(t, expired, 1)

	// Calls within their deadline, or without one, answer as before, and
	// the wrapped client keeps every capability and its native stream.
	_, err = m.Predict(t.Context(), rig.PredictRequest{Frames: []rig.Frame{{Width: 2, Height: 1, Pixels: []byte{1, 2}}}})
	require.NoError(t, err)
	_, ok := m.(rig.Adapter)
	require.True(t, ok)
	_, err = m.(rig.Evaluator).Evaluate(t.Context(), rig.EvaluateRequest{})
	require.Error(t, err)
	s, err := rig.OpenPredictStream(t.Context(), m)
	require.NoError(t, err)
	require.NoError(t, s.Send(rig.PredictRequest{Frames: []rig.Frame{{Width: 2, Height: 1, Pixels: []byte{1, 2}}}}))
	_, err = s.Recv()
	require.NoError(t, err)
	require.NoError(t, s.CloseSend())
	require.Len(t, expired, 1)
}

func TestDeadlinesOfAPlainImplementationSayWhatItCannotDo(t *testing.T) {
	m := rig.Deadlines{}.Model(predictOnly{&rigfake.Model{Neurons: 1, Width: 2, Height: 1}})
	_, err := m.(rig.Adapter).Adapt(t.Context(), rig.AdaptRequest{})
	require.ErrorIs(t, err, rig.ErrUnsupported)
	_, err = m.(rig.Evaluator).Evaluate(t.Context(), rig.EvaluateRequest{})
	require.ErrorIs(t, err, rig.ErrUnsupported)
	_, err = rig.Deadlines{}.Stimulus(&rigfake.Stimulus{}).(rig.Renderer).Render(t.Context(), rig.RenderRequest{})
	require.NotErrorIs(t, err, rig.ErrUnsupported, "rigfake renders")
	_, err = rig.Deadlines{}.Acquisition(struct{ rig.Acquisition }{&rigfake.Acquisition{}}).(rig.TruthTeller).OptimalStimuli(t.Context(), rig.OptimalStimuliRequest{})
	require.ErrorIs(t, err, rig.ErrUnsupported)
}
