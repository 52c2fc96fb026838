package present

import "time"

// DropFactor is how many refresh periods may pass between two frames
// before the later one counts as dropped.
const DropFactor = 1.5

// DropDetector flags frames shown late. A frame is dropped when it is shown
// more than Limit after the previous draw that showed something new: the
// previous frame, or the idle gray between blocks. Draws that repeat the
// current frame (the next one was not ready) do not count, so the frame
// after a repeat is flagged. The zero value never flags the first frame.
//
// A DropDetector is not safe for concurrent use.
type DropDetector struct {
	// Limit is the longest interval that is not a drop.
	Limit time.Duration
	last  time.Time
	seen  bool
}

// NewDropDetector returns a detector for a display refreshing at rateHz:
// Limit is DropFactor periods.
func NewDropDetector(rateHz float64) *DropDetector {
	return &DropDetector{Limit: DropLimit(rateHz)}
}

// DropLimit returns DropFactor refresh periods at rateHz.
func DropLimit(rateHz float64) time.Duration {
	return time.Duration(DropFactor * 1e9 / rateHz)
}

// Frame records a new frame shown at t and reports whether it was dropped.
func (d *DropDetector) Frame(t time.Time) bool {
	dropped := d.seen && t.Sub(d.last) > d.Limit
	d.last, d.seen = t, true
	return dropped
}

// Idle records a draw at t that showed no stimulus frame (the gray between
// blocks); the next frame is measured from it.
func (d *DropDetector) Idle(t time.Time) {
	d.last, d.seen = t, true
}

// Reset forgets the previous draw, so the next frame is never dropped.
func (d *DropDetector) Reset() { d.seen = false }
