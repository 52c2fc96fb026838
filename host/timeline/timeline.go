package timeline

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twinrig/twinrig/host/metrics"
	"github.com/twinrig/twinrig/host/verify"
	"github.com/twinrig/twinrig/rig"
)

// Prediction is the model's response vector for one model frame (a model
// step), in the acquisition's neuron order.
type Prediction struct {
	// Step counts model frames since the session's reset, from 0.
	Step   int
	Time   time.Duration
	Values []float32
	// BurnIn marks the burn-in frames after a trial reset of the model
	// (model_reset: trial), which are not scored.
	BurnIn bool
}

// Window is one stimulus shown: which stage, trial (-1: a blank between
// trials), repeat and condition ("" in a present block), and when.
type Window struct {
	Stage      string
	Trial      int
	Repeat     int
	Condition  string
	Start, End time.Duration
}

// Span is a block's stretch of session time, [Start, End).
type Span struct {
	Start, End time.Duration
}

// Contains reports whether t lies in the span.
func (s Span) Contains(t time.Duration) bool { return t >= s.Start && t < s.End }

// Keep says what a block keeps of its scans and predictions once they are
// scored (see Begin).
type Keep int

const (
	// KeepNone keeps nothing: the block is scored as it runs.
	KeepNone Keep = iota
	// KeepScans keeps the block's scans (a verify block's responses).
	KeepScans
	// KeepFit keeps its scans, and its predictions without their values
	// (what an adapt block fits on: which step was on screen at a scan).
	KeepFit
	// KeepAll keeps its scans, predictions and trial windows (a repeated
	// block's trials, a block a select stage scores).
	KeepAll
)

// Block says how to record a block (see Begin).
type Block struct {
	// Keep is what the block keeps.
	Keep Keep
	// Neurons is the length of a scan; BurnIn the model steps from the
	// session's reset that are not scored. The first Begin sets them for
	// the whole session's score too.
	Neurons, BurnIn int
}

// carry is how much of the latest scans a kept block starts with (its
// first trial's baseline lies before it).
const carry = time.Second

// Timeline is what a session recorded. The zero value is not usable; use
// New.
type Timeline struct {
	mu sync.Mutex
	// steps and scans count every prediction and scan added.
	steps, scans int
	spans        map[string]Span
	// burnInUntil is the model step up to which predictions are burn-in
	// after the latest trial reset of the model.
	burnInUntil int

	// Pairing: tail holds the predictions from global index tailBase on
	// (the one on screen at the last paired scan first); pending the
	// scans not paired yet, from global index pendingBase on: a scan is
	// paired once a prediction later than it has arrived.
	tail        []Prediction
	tailBase    int
	pending     []rig.Scan
	pendingBase int
	// recent holds the scans of the last second (carried into a kept
	// block).
	recent []rig.Scan

	// session scores every pair, block those of the block begun last.
	session, block *scope

	// segs are the kept blocks, in the order begun; cur the block begun
	// last when it keeps anything.
	segs []*segment
	cur  *segment
}

// scope scores the pairs of scans from scan index from.Scans on with
// predictions from step from.Steps on.
type scope struct {
	from   Mark
	burnIn int
	corr   *metrics.Correlator
}

func (s *scope) add(j int, p *Prediction, scanIndex int, sc *rig.Scan) {
	if scanIndex < s.from.Scans || j < s.from.Steps || p.Step < s.burnIn || p.BurnIn ||
		len(p.Values) != s.corr.Cols() || len(sc.Values) != s.corr.Cols() {
		return
	}
	s.corr.Add(p.Values, sc.Values)
}

// segment is what a kept block keeps: its predictions and scans (the
// first carriedPreds and carriedScans of them taken before it began) and
// its windows.
type segment struct {
	block                      string
	keep                       Keep
	preds                      []Prediction
	scans                      []rig.Scan
	carriedPreds, carriedScans int
	windows                    []Window
}

// New returns an empty Timeline.
func New() *Timeline { return &Timeline{spans: map[string]Span{}} }

// Begin starts recording block b, shown from session time start, and
// returns the current position: from here the block's pairs are scored
// (BlockScores), and what b.Keep says is kept until Release. A kept block
// starts with the prediction on screen and the scans of the last second.
func (t *Timeline) Begin(block string, start time.Duration, b Block) Mark {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.session == nil {
		t.session = &scope{burnIn: b.BurnIn, corr: metrics.NewCorrelator(b.Neurons)}
	}
	m := Mark{Steps: t.steps, Scans: t.scans}
	t.block = &scope{from: m, burnIn: b.BurnIn, corr: metrics.NewCorrelator(b.Neurons)}
	t.cur = nil
	t.segs = slices.DeleteFunc(t.segs, func(s *segment) bool { return s.block == block })
	if b.Keep == KeepNone {
		return m
	}
	seg := &segment{block: block, keep: b.Keep}
	if b.Keep >= KeepFit && len(t.tail) > 0 {
		seg.preds = append(seg.preds, t.tail[len(t.tail)-1])
		seg.carriedPreds = 1
	}
	for _, s := range t.recent {
		if s.Time >= start-carry {
			seg.scans = append(seg.scans, s)
			seg.carriedScans++
		}
	}
	t.segs = append(t.segs, seg)
	t.cur = seg
	return m
}

// Release drops what block keeps.
func (t *Timeline) Release(block string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.segs = slices.DeleteFunc(t.segs, func(s *segment) bool { return s.block == block })
	if t.cur != nil && t.cur.block == block {
		t.cur = nil
	}
}

// Trim drops what block keeps from before session time before (a verify
// block's repeats once graded).
func (t *Timeline) Trim(block string, before time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	seg := t.seg(block)
	if seg == nil {
		return
	}
	i := sort.Search(len(seg.scans), func(k int) bool { return seg.scans[k].Time >= before })
	seg.scans = slices.Clone(seg.scans[i:])
	seg.carriedScans = max(0, seg.carriedScans-i)
	// Keep the prediction on screen at before.
	k := max(sort.Search(len(seg.preds), func(k int) bool { return seg.preds[k].Time > before })-1, 0)
	seg.preds = slices.Clone(seg.preds[k:])
	seg.carriedPreds = max(0, seg.carriedPreds-k)
	seg.windows = slices.DeleteFunc(seg.windows, func(w Window) bool { return w.End <= before })
}

// Retained counts the predictions, scans and windows the timeline holds
// (kept blocks, and the ones not paired yet): what its memory grows with.
func (t *Timeline) Retained() (preds, scans, windows int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	preds, scans = len(t.tail), len(t.pending)+len(t.recent)
	for _, s := range t.segs {
		preds += len(s.preds)
		scans += len(s.scans)
		windows += len(s.windows)
	}
	return preds, scans, windows
}

func (t *Timeline) seg(block string) *segment {
	for _, s := range t.segs {
		if s.block == block {
			return s
		}
	}
	return nil
}

// AddScans appends scans (in time order, after those already added).
func (t *Timeline) AddScans(scans []rig.Scan) {
	if len(scans) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.scans += len(scans)
	t.pending = append(t.pending, scans...)
	if t.cur != nil {
		t.cur.scans = append(t.cur.scans, scans...)
	}
	last := scans[len(scans)-1].Time
	i := 0
	for i < len(t.recent) && t.recent[i].Time < last-carry {
		i++
	}
	t.recent = append(t.recent[i:], scans...)
	i = 0
	for i < len(t.recent) && t.recent[i].Time < last-carry {
		i++
	}
	t.recent = t.recent[i:]
	t.pair()
}

// AddPredictions appends the model's responses to the frames shown at
// times as the next model steps, and returns them.
func (t *Timeline) AddPredictions(times []time.Duration, rows [][]float32) []Prediction {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Prediction, len(rows))
	for i, v := range rows {
		step := t.steps + i
		out[i] = Prediction{Step: step, Time: times[i], Values: v, BurnIn: step < t.burnInUntil}
	}
	t.steps += len(rows)
	t.tail = append(t.tail, out...)
	switch {
	case t.cur == nil:
	case t.cur.keep == KeepAll:
		t.cur.preds = append(t.cur.preds, out...)
	case t.cur.keep == KeepFit:
		for _, p := range out {
			p.Values = nil
			t.cur.preds = append(t.cur.preds, p)
		}
	}
	t.pair()
	return out
}

// pair pairs the pending scans whose prediction on screen is settled (a
// later prediction has arrived) and scores them; it keeps of the
// predictions only the one on screen at the last paired scan and later.
func (t *Timeline) pair() {
	j := -1 // index into tail of the prediction on screen
	paired := 0
	for i := range t.pending {
		s := &t.pending[i]
		for j+1 < len(t.tail) && t.tail[j+1].Time <= s.Time {
			j++
		}
		if j+1 >= len(t.tail) {
			break // a prediction still to come may be on screen
		}
		if j >= 0 {
			for _, sc := range []*scope{t.session, t.block} {
				if sc != nil {
					sc.add(t.tailBase+j, &t.tail[j], t.pendingBase+i, s)
				}
			}
		}
		paired++
	}
	if paired > 0 {
		clear(t.pending[:paired])
		t.pending = t.pending[paired:]
		t.pendingBase += paired
	}
	if j > 0 {
		clear(t.tail[:j])
		t.tail = t.tail[j:]
		t.tailBase += j
	}
}

// Scores is the single-trial score of the pairs of a stretch: per neuron,
// Pearson's r between prediction and response (NaN where undefined), and
// how many pairs entered it.
type Scores struct {
	R      []float64
	Scored int
}

// BlockScores scores the block begun last: each scan since Begin paired
// with the latest prediction at or before it since Begin (scans paired with
// a burn-in step skipped), as Pearson over those pairs would. The scans not
// paired yet are paired with the latest prediction.
func (t *Timeline) BlockScores() Scores {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.scoresOf(t.block)
}

// SessionScores scores every pair so far (see BlockScores). R is nil
// before the first Begin.
func (t *Timeline) SessionScores() Scores {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.scoresOf(t.session)
}

func (t *Timeline) scoresOf(sc *scope) Scores {
	if sc == nil {
		return Scores{}
	}
	tmp := &scope{from: sc.from, burnIn: sc.burnIn, corr: sc.corr.Clone()}
	j := -1
	for i := range t.pending {
		s := &t.pending[i]
		for j+1 < len(t.tail) && t.tail[j+1].Time <= s.Time {
			j++
		}
		if j >= 0 {
			tmp.add(t.tailBase+j, &t.tail[j], t.pendingBase+i, s)
		}
	}
	return Scores{R: tmp.corr.Rs(), Scored: tmp.corr.Count()}
}

// ResetModel records a trial reset of the model: the next burnIn steps are
// burn-in.
func (t *Timeline) ResetModel(burnIn int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.burnInUntil = t.steps + burnIn
}

// AddWindow records a stimulus shown (kept with its block's data).
func (t *Timeline) AddWindow(w Window) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seg := t.seg(w.Stage); seg != nil {
		seg.windows = append(seg.windows, w)
	}
}

// SetSpan records a block's span (a resumed session restores those of the
// blocks already done).
func (t *Timeline) SetSpan(block string, s Span) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spans[block] = s
}

// Span returns a block's span, and whether it was shown.
func (t *Timeline) Span(block string) (Span, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.spans[block]
	return s, ok
}

// InSpans reports whether at lies in the span of one of the blocks.
func (t *Timeline) InSpans(at time.Duration, blocks []string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inSpans(at, blocks)
}

func (t *Timeline) inSpans(at time.Duration, blocks []string) bool {
	for _, b := range blocks {
		if sp, ok := t.spans[b]; ok && sp.Contains(at) {
			return true
		}
	}
	return false
}

// Mark is a position in the timeline: how many predictions and scans came
// before it.
type Mark struct{ Steps, Scans int }

// Mark returns the current position.
func (t *Timeline) Mark() Mark {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Mark{Steps: t.steps, Scans: t.scans}
}

// Within returns the kept predictions and scans whose times lie in s (those
// of the kept blocks only).
func (t *Timeline) Within(s Span) ([]Prediction, []rig.Scan) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var preds []Prediction
	var scans []rig.Scan
	for _, seg := range t.segs {
		for _, p := range seg.preds[seg.carriedPreds:] {
			if s.Contains(p.Time) {
				preds = append(preds, p)
			}
		}
		for _, sc := range seg.scans[seg.carriedScans:] {
			if s.Contains(sc.Time) {
				scans = append(scans, sc)
			}
		}
	}
	return preds, scans
}

// Trials returns the windows of a kept block's trials (not its blanks), in
// the order shown.
func (t *Timeline) Trials(block string) []Window {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Window
	if seg := t.seg(block); seg != nil {
		for _, w := range seg.windows {
			if w.Trial >= 0 {
				out = append(out, w)
			}
		}
	}
	return out
}

// OnScreen returns the index of the last prediction at or before at,
// searching forward from j (-1: none yet); callers walk scans in time
// order.
func OnScreen(preds []Prediction, j int, at time.Duration) int {
	for j+1 < len(preds) && preds[j+1].Time <= at {
		j++
	}
	return j
}

// Pair is a scan with the prediction of the model step on screen when it
// was taken.
type Pair struct {
	Prediction Prediction
	Scan       rig.Scan
}

// WalkTrial hands add the scans of trial window w of a kept block, in
// [Start, End), each paired with the prediction on screen (scans taken
// before the first prediction skipped), until add has accepted (returned
// true for) n. add must not call the timeline.
func (t *Timeline) WalkTrial(w Window, n int, add func(Pair) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	seg := t.seg(w.Stage)
	if seg == nil {
		return
	}
	preds, scans := seg.preds, seg.scans
	accepted := 0
	j := sort.Search(len(preds), func(k int) bool { return preds[k].Time > w.Start }) - 1
	for _, s := range scans[sort.Search(len(scans), func(k int) bool { return scans[k].Time >= w.Start }):] {
		if accepted == n || s.Time >= w.End {
			break
		}
		j = OnScreen(preds, j, s.Time)
		if j < 0 {
			continue
		}
		if add(Pair{Prediction: preds[j], Scan: s}) {
			accepted++
		}
	}
}

// FitData is what an adapt block fits the model's readout on.
type FitData struct {
	// Steps and Responses pair each scan of the fitted blocks with the
	// model step on screen.
	Steps     []int64
	Responses [][]float32
	// PredictSteps are the model steps of the held-out blocks.
	PredictSteps []int64
}

// FitData returns the scans of the kept blocks from, each with the model
// step on screen (steps before burnIn and burn-in steps after a trial reset
// skipped, scans in a held-out block skipped), and the model steps of the
// kept held-out blocks.
func (t *Timeline) FitData(from, heldOut []string, burnIn int) FitData {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d FitData
	for _, seg := range t.segs {
		if slices.Contains(from, seg.block) {
			j := -1
			for _, s := range seg.scans[seg.carriedScans:] {
				j = OnScreen(seg.preds, j, s.Time)
				if j < 0 || seg.preds[j].Step < burnIn || seg.preds[j].BurnIn || !t.inSpans(s.Time, from) || t.inSpans(s.Time, heldOut) {
					continue
				}
				d.Steps = append(d.Steps, int64(seg.preds[j].Step))
				d.Responses = append(d.Responses, s.Values)
			}
		}
	}
	for _, seg := range t.segs {
		if slices.Contains(heldOut, seg.block) {
			for _, p := range seg.preds[seg.carriedPreds:] {
				if t.inSpans(p.Time, heldOut) {
					d.PredictSteps = append(d.PredictSteps, int64(p.Step))
				}
			}
		}
	}
	return d
}

// Mean returns a neuron's mean recorded value over [from, to) in the kept
// scans of block, and whether any scan lies there.
func (t *Timeline) Mean(block string, neuron int, from, to time.Duration) (float64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var scans []rig.Scan
	if seg := t.seg(block); seg != nil {
		scans = seg.scans
	}
	i := sort.Search(len(scans), func(k int) bool { return scans[k].Time >= from })
	sum, n := 0.0, 0
	for ; i < len(scans) && scans[i].Time < to; i++ {
		sum += float64(scans[i].Values[neuron])
		n++
	}
	return sum / float64(max(n, 1)), n > 0
}

// Response returns a neuron's response to a trial window of a kept block
// (verify.Response: the mean over the latency-shifted window minus the
// baseline before it), and whether it is defined.
func (t *Timeline) Response(neuron int, w Window) (float64, bool) {
	return verify.Response(func(from, to time.Duration) (float64, bool) { return t.Mean(w.Stage, neuron, from, to) }, w.Start, w.End)
}
