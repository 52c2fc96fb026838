package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrAborted is returned by Run (wrapped, with the operator's reason) when
// the session was aborted through its Steering.
var ErrAborted = errors.New("session aborted")

// Steering lets an operator pause, resume and abort a running session, from
// any goroutine. The session acts on it at trial boundaries (between the
// repeats and blocks of a protocol): a pause takes effect when the trial on
// screen ends, and the session then waits, recording nothing new and
// showing no stimulus, until Resume or Abort; an abort ends the session
// there, with everything recorded so far kept. (It steers the session;
// it is not a control stimulus of a verify block, protocols.Control, though
// commands reach it on the MQTT control topic, events.ControlTopic.)
//
// The zero value is not usable; use NewSteering. A nil *Steering is valid
// and never pauses or aborts.
type Steering struct {
	mu      sync.Mutex
	paused  bool
	abort   error
	changed chan struct{} // closed and replaced on every change
}

// NewSteering returns a running (not paused) Steering.
func NewSteering() *Steering {
	return &Steering{changed: make(chan struct{})}
}

func (c *Steering) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Pause asks the session to pause at the next trial boundary. It reports
// whether the state changed (false when already paused or aborted).
func (c *Steering) Pause() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused || c.abort != nil {
		return false
	}
	c.paused = true
	c.notify()
	return true
}

// Resume continues a paused session. It reports whether the state changed.
func (c *Steering) Resume() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused || c.abort != nil {
		return false
	}
	c.paused = false
	c.notify()
	return true
}

// Abort ends the session at the next trial boundary (at once if it is
// paused). It reports whether the state changed (false after an earlier
// Abort).
func (c *Steering) Abort(reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.abort != nil {
		return false
	}
	if reason == "" {
		reason = "by the operator"
	}
	c.abort = fmt.Errorf("%w: %s", ErrAborted, reason)
	c.paused = false
	c.notify()
	return true
}

// State returns "running", "paused" or "aborting".
func (c *Steering) State() string {
	if c == nil {
		return "running"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.abort != nil:
		return "aborting"
	case c.paused:
		return "paused"
	}
	return "running"
}

// Checkpoint is where the session may stop: it returns at once while
// running, blocks while paused (calling onPause once, before it waits), and
// returns an error wrapping ErrAborted after Abort or ctx's error when ctx
// ends.
func (c *Steering) Checkpoint(ctx context.Context, onPause func()) error {
	if c == nil {
		return ctx.Err()
	}
	announced := false
	for {
		c.mu.Lock()
		paused, abort, changed := c.paused, c.abort, c.changed
		c.mu.Unlock()
		switch {
		case abort != nil:
			return abort
		case !paused:
			return ctx.Err()
		}
		if !announced && onPause != nil {
			onPause()
			announced = true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
