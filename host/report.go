package main

import (
	"fmt"
	"math"
	"time"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/protocols"
)

// progress returns the session's progress printer: one line per second of
// session time at most, plus one per block change.
func (h *hostRun) progress() func(session.Progress) {
	if h.quiet {
		return nil
	}
	lastBlock := -1
	var lastPrint time.Time
	return func(p session.Progress) {
		if p.BlockIndex == lastBlock && time.Since(lastPrint) < time.Second {
			return
		}
		lastBlock, lastPrint = p.BlockIndex, time.Now()
		// Of the protocol's time (on the real clock the session's time
		// also runs while stages compute or the operator pauses).
		pct := 0.0
		if p.Total > 0 {
			pct = min(100, 100*p.Done.Seconds()/p.Total.Seconds())
		}
		fmt.Fprintf(h.stdout, "  %5.1f%%  block %d/%d %-12s t=%7.2fs  scans %d\n",
			pct, p.BlockIndex+1, len(h.exp.Stages), p.Block, p.SessionTime.Seconds(), p.Scans)
	}
}

// printSummary prints the per-neuron accuracy summary that ends a run.
func (h *hostRun) printSummary(res *session.Result) {
	a := res.Accuracy
	speed := math.NaN()
	if res.Wall > 0 {
		speed = res.Duration.Seconds() / res.Wall.Seconds()
	}
	fmt.Fprintf(h.stdout, "\nsession time %.1f s in %.2f s wall (%.1fx real time); %d frames shown (%d dropped), %d model frames, %d scans\n",
		res.Duration.Seconds(), res.Wall.Seconds(), speed, res.FramesShown, res.FramesDropped, res.ModelFrames, res.Scans)
	fmt.Fprintf(h.stdout, "model %q on %s vs %d neurons of %q\n", res.Info.Model.Name, res.Info.Model.Device,
		res.Info.Acquisition.Neurons, res.Info.Acquisition.Name)
	for _, a := range res.Adaptations {
		fmt.Fprintf(h.stdout, "  adapted the readout after block %s: %d neurons from %d scans in %.1f s (median cross-validated r %s)\n",
			a.After, a.Neurons, a.Samples, a.Took.Seconds(), fmtR(a.MedianCV))
		if a.SavedTo != "" {
			fmt.Fprintf(h.stdout, "    saved to %s (model setting \"readout\" loads it)\n", a.SavedTo)
		}
	}
	for _, b := range res.Blocks {
		fmt.Fprintf(h.stdout, "  block %-12s median r %s over %d scans", b.Name, fmtR(b.Accuracy.Median), b.Accuracy.Scored)
		if m := b.Repeated; m != nil {
			fmt.Fprintf(h.stdout, "; %d repeats: median CC_norm %s (CC_abs %s, CC_max %s)", m.Repeats,
				fmtR(m.CCNormSummary.Median), fmtR(m.CCAbsSummary.Median), fmtR(m.CCMaxSummary.Median))
			if b.ScoredAfter != "" {
				fmt.Fprintf(h.stdout, " with the readout of %s", b.ScoredAfter)
			}
		}
		fmt.Fprintln(h.stdout)
	}
	for _, s := range res.Selections {
		fmt.Fprintf(h.stdout, "  %s: %d targets, most exciting inputs ranked and synthesised in %.1f s", s.Stage, len(s.Targets), s.Took.Seconds())
		if !math.IsNaN(s.MedianOptimal) {
			fmt.Fprintf(h.stdout, "; MEIs vs the targets' analytic optimal stimuli: median r %s", fmtR(s.MedianOptimal))
		}
		fmt.Fprintln(h.stdout)
	}
	for _, v := range res.Verifications {
		fmt.Fprintf(h.stdout, "\nverification %s:\n", v.Stage)
		if err := v.Result.WriteTable(h.stdout); err != nil {
			h.log.Warn("printing the verification table", "err", err)
		}
	}
	fmt.Fprintf(h.stdout, "per-neuron single-trial correlation (Pearson r, %d scans scored, burn-in %d frames):\n",
		a.Scored, res.Info.Model.BurnInFrames)
	fmt.Fprintf(h.stdout, "  neurons %d  median %s  quartiles [%s, %s]\n", a.Neurons, fmtR(a.Median), fmtR(a.Q1), fmtR(a.Q3))
	if m := res.Repeated; m != nil {
		fmt.Fprintf(h.stdout, "  repeated clips (%d clips x %d repeats): CC_norm median %s  quartiles [%s, %s]  (%d neurons defined)\n",
			m.Clips, m.Repeats, fmtR(m.CCNormSummary.Median), fmtR(m.CCNormSummary.Q1), fmtR(m.CCNormSummary.Q3), m.CCNormSummary.Defined)
	}
	if a.Neurons < len(a.PerNeuron) {
		fmt.Fprintf(h.stdout, "  %d neurons had no defined r (a constant series)\n", len(a.PerNeuron)-a.Neurons)
	}
}

func fmtR(r float64) string {
	if math.IsNaN(r) {
		return "  n/a"
	}
	return fmt.Sprintf("%+.3f", r)
}

// sessionSummary is summary.json.
type sessionSummary struct {
	Schema        int       `json:"schema"`
	Session       string    `json:"session"`
	Status        string    `json:"status"`
	Error         string    `json:"error,omitempty"`
	Protocol      string    `json:"protocol"`
	Epoch         time.Time `json:"epoch"`
	DurationS     float64   `json:"duration_s"`
	WallS         float64   `json:"wall_s"`
	FramesShown   int       `json:"frames_shown"`
	FramesDropped int       `json:"frames_dropped"`
	ModelFrames   int       `json:"model_frames"`
	Scans         int       `json:"scans"`
	// Lagged says what fell behind the real clock and by how much (status
	// degraded; absent otherwise); Lag counts it.
	Lagged        string           `json:"lagged,omitempty"`
	Lag           *lagCounts       `json:"lag,omitempty"`
	Plugins       map[string]any   `json:"plugins"`
	Accuracy      events.Accuracy  `json:"accuracy"`
	Adaptations   []map[string]any `json:"adaptations,omitempty"`
	Selections    []map[string]any `json:"selections,omitempty"`
	Verifications []map[string]any `json:"verifications,omitempty"`
}

// lagCounts is summary.json's lag: see pipeline.Lag.
type lagCounts struct {
	DroppedFrames       int     `json:"dropped_frames"`
	LateScans           int     `json:"late_scans"`
	MaxScanLateMS       float64 `json:"max_scan_late_ms"`
	LatePredictions     int     `json:"late_predictions"`
	MaxPredictionLateMS float64 `json:"max_prediction_late_ms"`
	SkippedPredictions  int     `json:"skipped_predictions"`
}

// nanNull maps NaN to nil (JSON null).
func nanNull(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

func summary(name, status string, exp *protocols.Experiment, res *session.Result, err error) sessionSummary {
	s := sessionSummary{
		Schema: 1, Session: name, Status: status, Protocol: exp.Name, Epoch: res.Epoch,
		DurationS: res.Duration.Seconds(), WallS: res.Wall.Seconds(),
		FramesShown: res.FramesShown, FramesDropped: res.FramesDropped, ModelFrames: res.ModelFrames, Scans: res.Scans,
		Plugins: map[string]any{
			"stimulus": res.Info.Stimulus, "acquisition": res.Info.Acquisition, "model": res.Info.Model,
		},
		Accuracy: session.AccuracyPayload("session", res.Accuracy, res.Repeated),
	}
	if l := res.Lag; l.Lagged() {
		ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
		s.Lag = &lagCounts{DroppedFrames: l.Dropped, LateScans: l.LateScans, MaxScanLateMS: ms(l.MaxScanLate),
			LatePredictions: l.LatePredictions, MaxPredictionLateMS: ms(l.MaxPredictionLate), SkippedPredictions: l.Skipped}
		if status == string(events.StatusDegraded) {
			s.Lagged = l.String()
		}
	}
	for _, a := range res.Adaptations {
		s.Adaptations = append(s.Adaptations, map[string]any{"after": a.After, "neurons": a.Neurons, "samples": a.Samples,
			"seconds": a.Took.Seconds(), "median_cv_r": a.MedianCV, "readout": a.SavedTo})
	}
	for _, sel := range res.Selections {
		s.Selections = append(s.Selections, map[string]any{"block": sel.Stage, "targets": len(sel.Targets),
			"seconds": sel.Took.Seconds(), "median_optimal_r": nanNull(sel.MedianOptimal)})
	}
	for _, v := range res.Verifications {
		sm := v.Result.Summary
		s.Verifications = append(s.Verifications, map[string]any{"block": v.Stage, "targets": sm.Targets, "evaluated": sm.Evaluated,
			"driven": sm.Driven, "significant": sm.Significant, "driven_fraction": nanNull(sm.DrivenFraction),
			"median_z": nanNull(sm.Z.Median)})
	}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}
