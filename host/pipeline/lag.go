package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Lag counts how a session on the real clock fell behind: the display's
// dropped frames, the scans and predictions that reached the host late,
// and the predictions skipped because the model could not keep up.
//
// A scan is due when the last display frame of its batch was shown (the
// host reads the scans taken up to that frame); a prediction is due when
// the last frame of the batch it was asked for was shown (the earliest
// the host can send the batch to the model). Either is late by the time
// from then until it reached the host, and counts as late when that is
// more than Config.LateAfter (default: one batch's span, 333 ms at 30 Hz
// with the default batch of a third of a second): the acquisition or the
// model then takes longer than the display to get through a batch.
type Lag struct {
	// Frames counts the display frames shown; Dropped those the stimulus
	// plugin reported dropped.
	Frames, Dropped int
	// LateScans and LatePredictions count the scans and predictions late
	// beyond Config.LateAfter; MaxScanLate and MaxPredictionLate are the
	// most any scan or prediction was late (counted or not).
	LateScans, LatePredictions     int
	MaxScanLate, MaxPredictionLate time.Duration
	// Skipped counts the predictions skipped: frames that were due to go
	// to the model but did not, because it was still busy with earlier
	// ones (see Pipeline).
	Skipped int
}

func (l *Lag) scan(late time.Duration, n int, after time.Duration) {
	l.MaxScanLate = max(l.MaxScanLate, late)
	if late > after {
		l.LateScans += n
	}
}

func (l *Lag) prediction(late time.Duration, n int, after time.Duration) {
	l.MaxPredictionLate = max(l.MaxPredictionLate, late)
	if late > after {
		l.LatePredictions += n
	}
}

// Add adds m's counts to l (the larger of each maximum).
func (l *Lag) Add(m Lag) {
	l.Frames += m.Frames
	l.Dropped += m.Dropped
	l.LateScans += m.LateScans
	l.LatePredictions += m.LatePredictions
	l.Skipped += m.Skipped
	l.MaxScanLate = max(l.MaxScanLate, m.MaxScanLate)
	l.MaxPredictionLate = max(l.MaxPredictionLate, m.MaxPredictionLate)
}

// DroppedTolerance: the display's dropped frames make a lag when there are
// at least DroppedTolerance of them and they are more than one in
// DroppedPerMille thousand frames shown (a loaded machine's odd late
// wake-up is not a lag; 16 frames dropped in a minute are).
const (
	DroppedTolerance = 3
	DroppedPerMille  = 1
)

// Lagged says whether anything fell behind: frames dropped beyond the
// tolerance (DroppedTolerance), a scan or a prediction late, a prediction
// skipped.
func (l Lag) Lagged() bool {
	dropped := l.Dropped >= DroppedTolerance && l.Dropped*1000 > DroppedPerMille*l.Frames
	return dropped || l.LateScans > 0 || l.LatePredictions > 0 || l.Skipped > 0
}

// String says what lagged and by how much, e.g. "model 312 predictions
// late (max 180 ms), 41 skipped; display dropped 3 frames" ("" when
// nothing did).
func (l Lag) String() string {
	var parts []string
	if l.LatePredictions > 0 || l.Skipped > 0 {
		var m []string
		if l.LatePredictions > 0 {
			m = append(m, fmt.Sprintf("%d predictions late (max %s)", l.LatePredictions, ms(l.MaxPredictionLate)))
		}
		if l.Skipped > 0 {
			m = append(m, fmt.Sprintf("%d skipped", l.Skipped))
		}
		parts = append(parts, "model "+strings.Join(m, ", "))
	}
	if l.LateScans > 0 {
		parts = append(parts, fmt.Sprintf("acquisition %d scans late (max %s)", l.LateScans, ms(l.MaxScanLate)))
	}
	if l.Dropped > 0 {
		parts = append(parts, fmt.Sprintf("display dropped %d frames", l.Dropped))
	}
	return strings.Join(parts, "; ")
}

// ms writes d in milliseconds below 10 s, in seconds above.
func ms(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// note updates the lag of presentation id.
func (p *Pipeline) note(id string, f func(*Lag)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lag[id]
	if l == nil {
		l = &Lag{}
		p.lag[id] = l
	}
	f(l)
}

// Lag returns the lag of the presentations named id so far (a block's);
// with no id, of every presentation. Settle first for the lag of the
// frames shown until now.
func (p *Pipeline) Lag(id ...string) Lag {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out Lag
	if len(id) == 0 {
		for _, l := range p.lag {
			out.Add(*l)
		}
		return out
	}
	for _, name := range id {
		if l := p.lag[name]; l != nil {
			out.Add(*l)
		}
	}
	return out
}

// queue holds the batches shown that wait for the acquisition. With a
// bound, push waits for room (the virtual clock: the display waits);
// without (0), it never waits (the real clock).
type queue struct {
	mu     sync.Mutex
	items  []item
	n      int // frames in items
	bound  int
	closed bool
	ready  chan struct{} // a push or a close happened
	room   chan struct{} // a pop happened
}

func newQueue(bound int) *queue {
	return &queue{bound: bound, ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (q *queue) push(ctx context.Context, it item) error {
	for {
		q.mu.Lock()
		if q.bound == 0 || len(q.items) < q.bound {
			q.items = append(q.items, it)
			q.n += len(it.frames)
			q.mu.Unlock()
			signal(q.ready)
			return nil
		}
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pop returns the oldest batch; ok is false once the queue is closed and
// empty.
func (q *queue) pop(ctx context.Context) (it item, ok bool, err error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it = q.items[0]
			q.items[0] = item{}
			q.items = q.items[1:]
			q.n -= len(it.frames)
			q.mu.Unlock()
			signal(q.room)
			return it, true, nil
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return item{}, false, nil
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return item{}, false, ctx.Err()
		}
	}
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	signal(q.ready)
}

// frames counts the frames waiting.
func (q *queue) frames() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// oldest is the session time of the oldest frame waiting (0: none).
func (q *queue) oldest() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return 0
	}
	return q.items[0].frames[0].Time
}
