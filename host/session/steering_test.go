package session

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestControlCheckpoint(t *testing.T) {
	ctx := context.Background()
	var nilSteering *Steering
	require.NoError(t, nilSteering.Checkpoint(ctx, nil), "a nil Steering never stops")
	require.Equal(t, "running", nilSteering.State())

	c := NewSteering()
	require.NoError(t, c.Checkpoint(ctx, nil))
	require.False(t, c.Resume(), "resume while running changes nothing")
	require.True(t, c.Pause())
	require.False(t, c.Pause())
	require.Equal(t, "paused", c.State())

	// Paused: Checkpoint waits, announcing the pause once, until Resume.
	announced := make(chan struct{}, 2)
	done := make(chan error, 1)
	go func() { done <- c.Checkpoint(ctx, func() { announced <- struct{}{} }) }()
	<-announced
	select {
	case err := <-done:
		require.FailNow(t, "Checkpoint returned while paused", "%v", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.True(t, c.Resume())
	require.NoError(t, <-done)
	require.Len(t, announced, 0, "announced once")

	// Abort ends a pause, and every later checkpoint, with the reason.
	c.Pause()
	go func() { done <- c.Checkpoint(ctx, nil) }()
	require.True(t, c.Abort("animal moved"))
	err := <-done
	require.ErrorIs(t, err, ErrAborted)
	require.ErrorContains(t, err, "animal moved")
	require.ErrorIs(t, c.Checkpoint(ctx, nil), ErrAborted)
	require.False(t, c.Abort("again"))
	require.False(t, c.Pause())
	require.Equal(t, "aborting", c.State())

	// A cancelled context ends a pause too.
	c = NewSteering()
	c.Pause()
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- c.Checkpoint(cctx, nil) }()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}
