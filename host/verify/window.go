package verify

import "time"

// The verification window: the response to a trial shown over
// [onset, end) is the mean recorded value over
// [onset+ResponseLatency, end+ResponseLatency) minus the mean over the
// BaselineWindow before onset.
const (
	ResponseLatency = 100 * time.Millisecond
	BaselineWindow  = 200 * time.Millisecond
)

// Response returns the response to a trial shown over [onset, end) (see
// ResponseLatency), with mean giving a neuron's mean recorded value over
// [from, to) and whether any scan lies there. It is defined (true) when
// both the response window and the baseline hold a scan.
func Response(mean func(from, to time.Duration) (float64, bool), onset, end time.Duration) (float64, bool) {
	resp, ok := mean(onset+ResponseLatency, end+ResponseLatency)
	base, okBase := mean(onset-BaselineWindow, onset)
	if !ok || !okBase {
		return 0, false
	}
	return resp - base, true
}
