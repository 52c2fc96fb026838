package traces

import (
	"errors"
	"fmt"

	"github.com/twinrig/twinrig/rig"
)

// BaselineConfig sets up a Baseline.
type BaselineConfig struct {
	// Window is the maximin window in samples (>= 1), e.g. 60 s times the
	// frame rate.
	Window int
	// SmoothFrames is the length of the running mean applied first (>= 1;
	// 1 means no smoothing).
	SmoothFrames int
	// Floor is the smallest denominator of dF/F (> 0, in fluorescence
	// units).
	Floor float32
}

// queue is a monotonic deque in a fixed ring of (time, value) pairs.
type queue struct {
	t          []int64
	v          []float32
	head, size int
}

func (q *queue) back() int  { return (q.head + q.size - 1) % len(q.t) }
func (q *queue) front() int { return q.head }

// push appends (t, v) after dropping from the back every entry that v
// dominates (for a running min: entries >= v; for a max: entries <= v), and
// drops entries older than t-window from the front. It returns the front
// value (the window's min or max).
func (q *queue) push(t int64, v float32, window int64, isMin bool) float32 {
	for q.size > 0 {
		b := q.v[q.back()]
		if (isMin && b >= v) || (!isMin && b <= v) {
			q.size--
			continue
		}
		break
	}
	for q.size > 0 && q.t[q.front()] <= t-window {
		q.head = (q.head + 1) % len(q.t)
		q.size--
	}
	i := (q.head + q.size) % len(q.t)
	q.t[i], q.v[i] = t, v
	q.size++
	return q.v[q.front()]
}

// Baseline tracks a causal maximin baseline and dF/F for many traces at
// once. It allocates nothing after construction and is not safe for
// concurrent use.
type Baseline struct {
	cfg  BaselineConfig
	n    int
	t    int64
	ring []float32 // n*SmoothFrames recent values for the running mean
	sum  []float64
	mins []queue
	maxs []queue
}

// NewBaseline returns a Baseline for n traces.
func NewBaseline(n int, cfg BaselineConfig) (*Baseline, error) {
	var errs []error
	if n < 1 {
		errs = append(errs, fmt.Errorf("traces: baseline for %d traces, want >= 1: %w", n, rig.ErrInvalid))
	}
	if cfg.Window < 1 || cfg.Window > 1<<20 {
		errs = append(errs, fmt.Errorf("traces: baseline Window %d, want 1 to %d samples: %w", cfg.Window, 1<<20, rig.ErrInvalid))
	}
	if cfg.SmoothFrames < 1 || cfg.SmoothFrames > cfg.Window {
		errs = append(errs, fmt.Errorf("traces: baseline SmoothFrames %d, want 1 to Window (%d): %w", cfg.SmoothFrames, cfg.Window, rig.ErrInvalid))
	}
	if !(cfg.Floor > 0) {
		errs = append(errs, fmt.Errorf("traces: baseline Floor %v, want > 0: %w", cfg.Floor, rig.ErrInvalid))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	b := &Baseline{cfg: cfg, n: n, ring: make([]float32, n*cfg.SmoothFrames), sum: make([]float64, n),
		mins: make([]queue, n), maxs: make([]queue, n)}
	W := cfg.Window
	ts := make([]int64, 2*n*W)
	vs := make([]float32, 2*n*W)
	for i := range n {
		b.mins[i] = queue{t: ts[2*i*W : (2*i+1)*W], v: vs[2*i*W : (2*i+1)*W]}
		b.maxs[i] = queue{t: ts[(2*i+1)*W : (2*i+2)*W], v: vs[(2*i+1)*W : (2*i+2)*W]}
	}
	return b, nil
}

// Push adds one sample per trace (fc, neuropil-corrected fluorescence) and
// writes the baseline into f0 and dF/F into dff (all of length n).
func (b *Baseline) Push(f0, dff, fc []float32) error {
	if len(fc) != b.n || len(f0) != b.n || len(dff) != b.n {
		return fmt.Errorf("traces: baseline of %d traces given %d samples, %d and %d outputs: %w", b.n, len(fc), len(f0), len(dff), rig.ErrInvalid)
	}
	S := b.cfg.SmoothFrames
	k := int(b.t % int64(S))
	cnt := min(b.t+1, int64(S))
	W := int64(b.cfg.Window)
	for i, v := range fc {
		slot := &b.ring[i*S+k]
		if b.t >= int64(S) {
			b.sum[i] -= float64(*slot)
		}
		*slot = v
		b.sum[i] += float64(v)
		sm := float32(b.sum[i] / float64(cnt))
		lo := b.mins[i].push(b.t, sm, W, true)
		base := b.maxs[i].push(b.t, lo, W, false)
		f0[i] = base
		dff[i] = (v - base) / max(base, b.cfg.Floor)
	}
	b.t++
	return nil
}

// Samples returns how many samples have been pushed.
func (b *Baseline) Samples() int64 { return b.t }
