package supervise

import (
	"context"
	"errors"
	"fmt"
)

// Attempt is one start of the plugins within Run.
type Attempt struct {
	// N counts the restarts before this attempt (0: the first start).
	N int
	// Last says that no restart follows this attempt: a plugin's death
	// ends the session.
	Last bool
	// Plugins are this attempt's plugins, started and configured.
	Plugins *Plugins
}

// StartError is Run's error when the plugins could not be started or
// configured (Supervisor.Start's error, in Err).
type StartError struct {
	// Attempt is the attempt that failed to start (0: the first).
	Attempt int
	Err     error
}

// Error returns Err's message.
func (e *StartError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *StartError) Unwrap() error { return e.Err }

// Run runs a session with restarts: it starts the plugins, runs body with
// them under a context that a plugin's exit cancels (see Plugins.Watch;
// ctx's own Err tells an interruption apart), and kills them when body
// returns. When body returns an error for which Died is true and restarts
// remain (at most restarts in all), Run calls restart with the number of
// the restart to come (1, 2, ...) and the error, and unless it returns an
// error, starts the plugins again and runs body again. Run returns body's
// last error, restart's error, or a *StartError; no plugin is left
// running when it returns.
func (s *Supervisor) Run(ctx context.Context, restarts int, body func(context.Context, Attempt) error,
	restart func(n int, died error) error) error {
	for n := 0; ; n++ {
		err := s.attempt(ctx, Attempt{N: n, Last: n >= restarts}, body)
		var se *StartError
		if err == nil || n >= restarts || !Died(err) || errors.As(err, &se) {
			return err
		}
		if restart != nil {
			if err := restart(n+1, err); err != nil {
				return fmt.Errorf("restart %d of %d: %w", n+1, restarts, err)
			}
		}
	}
}

// attempt runs body once with freshly started plugins.
func (s *Supervisor) attempt(ctx context.Context, a Attempt, body func(context.Context, Attempt) error) error {
	p, err := s.Start(ctx)
	if err != nil {
		return &StartError{Attempt: a.N, Err: err}
	}
	defer p.Kill()
	wctx, stop := p.Watch(ctx)
	defer stop()
	a.Plugins = p
	return body(wctx, a)
}
