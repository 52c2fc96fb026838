package verify_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/verify"
)

func TestResponseWindow(t *testing.T) {
	type span struct{ from, to time.Duration }
	var asked []span
	mean := func(from, to time.Duration) (float64, bool) {
		asked = append(asked, span{from, to})
		if from < time.Second {
			return 1, true // the baseline
		}
		return 4, true
	}
	v, ok := verify.Response(mean, time.Second, 2*time.Second)
	require.True(t, ok)
	require.Equal(t, 3.0, v)
	require.Equal(t, []span{
		{time.Second + verify.ResponseLatency, 2*time.Second + verify.ResponseLatency},
		{time.Second - verify.BaselineWindow, time.Second},
	}, asked)

	_, ok = verify.Response(func(from, to time.Duration) (float64, bool) { return 0, from >= time.Second }, time.Second, 2*time.Second)
	require.False(t, ok, "no baseline")
}
