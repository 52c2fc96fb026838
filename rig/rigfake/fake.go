package rigfake

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// CallLog records the names of the methods called on a fake, in order.
// Its zero value is ready to use and it is safe for concurrent use.
type CallLog struct {
	mu    sync.Mutex
	names []string
}

// Calls returns the names of the methods called so far, in order
// ("Configure", "Describe", "Present", ...).
func (l *CallLog) Calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.names)
}

// Count returns how many times the method called name was called.
func (l *CallLog) Count(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.names {
		if c == name {
			n++
		}
	}
	return n
}

// enter logs a call of name and runs fail, if set: its error ends the call.
func (l *CallLog) enter(name string, fail func(string) error) error {
	l.mu.Lock()
	l.names = append(l.names, name)
	l.mu.Unlock()
	if fail != nil {
		return fail(name)
	}
	return nil
}

// Level is the gray level of frame k of a "levels" stimulus with the given
// seed: a hash of both, so that consecutive frames differ unpredictably
// but reproducibly.
func Level(seed, k int64) byte {
	x := uint64(seed)*0x9e3779b97f4a7c15 + uint64(k)*0xbf58476d1ce4e5b9 + 0x94d049bb133111eb
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return byte(x)
}

// Region returns the columns [lo, hi) that neuron n of neurons sees in a
// frame width pixels wide: the frame cut into neurons vertical strips of
// equal width, at least one column each.
func Region(width, n, neurons int) (lo, hi int) {
	lo = n * width / neurons
	hi = (n + 1) * width / neurons
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

// Response is the fake neurons' response to a frame: neuron n of neurons
// answers 1 + (n+1) * m, with m the mean gray level of its Region divided
// by 255. The frame must hold Width*Height pixels.
func Response(f rig.Frame, neurons int) []float32 {
	out := make([]float32, neurons)
	for n := range out {
		lo, hi := Region(f.Width, n, neurons)
		sum := 0
		for r := range f.Height {
			for _, p := range f.Pixels[r*f.Width+lo : r*f.Width+hi] {
				sum += int(p)
			}
		}
		m := float64(sum) / float64((hi-lo)*f.Height) / 255
		out[n] = float32(1 + float64(n+1)*m)
	}
	return out
}

// Uniform returns a width x height frame of one gray level.
func Uniform(width, height int, level byte) rig.Frame {
	px := make([]byte, width*height)
	for i := range px {
		px[i] = level
	}
	return rig.Frame{Width: width, Height: height, Pixels: px}
}

// checkFrame reports a frame whose size is not width x height or whose
// pixels do not fill it, wrapping rig.ErrInvalid.
func checkFrame(what string, f rig.Frame, width, height int) error {
	if f.Width != width || f.Height != height || len(f.Pixels) != width*height {
		return fmt.Errorf("%s is %dx%d with %d pixels, want %dx%d: %w", what, f.Width, f.Height, len(f.Pixels), width, height, rig.ErrInvalid)
	}
	return nil
}

// cloneBytes copies b; empty gives nil, so that copies compare equal to
// decoded recordings.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

func cloneFloats(v []float32) []float32 {
	if len(v) == 0 {
		return nil
	}
	return slices.Clone(v)
}

func cloneFrame(f rig.Frame) rig.Frame {
	f.Pixels = cloneBytes(f.Pixels)
	return f
}

func cloneFrames(fs []rig.Frame) []rig.Frame {
	if fs == nil {
		return nil
	}
	out := make([]rig.Frame, len(fs))
	for i, f := range fs {
		out[i] = cloneFrame(f)
	}
	return out
}

func cloneShown(fs []rig.ShownFrame) []rig.ShownFrame {
	if fs == nil {
		return nil
	}
	out := make([]rig.ShownFrame, len(fs))
	for i, f := range fs {
		out[i] = f
		out[i].Frame = cloneFrame(f.Frame)
	}
	return out
}

// cloneScan copies s, with HostTime as it comes back from a recording
// file or over the wire (no monotonic reading).
func cloneScan(s rig.Scan) rig.Scan {
	s.Values = cloneFloats(s.Values)
	if !s.HostTime.IsZero() {
		s.HostTime = time.Unix(0, s.HostTime.UnixNano())
	}
	return s
}

func cloneScans(ss []rig.Scan) []rig.Scan {
	if ss == nil {
		return nil
	}
	out := make([]rig.Scan, len(ss))
	for i, s := range ss {
		out[i] = cloneScan(s)
	}
	return out
}

// framePeriod returns k periods of rateHz as a duration, rounded to the
// nanosecond.
func framePeriod(k int64, rateHz float64) time.Duration {
	return time.Duration(float64(k)*1e9/rateHz + 0.5)
}

// waitUntil sleeps until the wall-clock time at, or until ctx ends.
func waitUntil(ctx context.Context, at time.Time) error {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
