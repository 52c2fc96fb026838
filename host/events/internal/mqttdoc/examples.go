package main

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/twinrig/twinrig/host/events"
)

// The example session the page's examples come from.
const (
	exampleRig     = "rig-1"
	exampleSession = "demo-20261126T182500"
)

// exampleTime is when the example session's seq-th event happened.
func exampleTime(seq int) string {
	t := time.Date(2026, 11, 26, 17, 25, 0, 123456789, time.UTC).Add(time.Duration(seq) * time.Second)
	return t.Format(time.RFC3339Nano)
}

// examples returns an example payload of every kind.
func examples() map[events.Kind]events.Payload {
	return map[events.Kind]events.Payload{
		events.KindStarted: events.Started{
			Protocol: "inception-loop", Clock: "virtual", Neurons: 100,
			Plugins:   events.PluginNames{Stimulus: "twinrig-stimulus", Acquisition: "sim", Model: "builtin:default"},
			RefreshHz: 30, ImagingRateHz: 30, ModelRateHz: 30, ModelDevice: "cpu",
			ModelSHA256: "f92f4c76d0263791f0ea1429b075ed2d5f8916ed999734d6d8aac024dc33deb3", DurationS: 1800,
		},
		events.KindBlock: events.Block{Block: "clips", Index: 1, Frames: 1350, OnsetS: 300, Repeats: 5, Trials: 3},
		events.KindTrial: events.Trial{Block: "clips", Index: 1, Trial: 2, Repeat: 0, Repeats: 5, Frames: 270, OnsetS: 318,
			Stimulus: json.RawMessage(`{"family":"natural","seed":103}`)},
		events.KindAccuracy: events.Accuracy{Block: "clips", Neurons: 3, DefinedNeurons: 2, ScoredScans: 1336,
			TrialAveraged: &events.TrialAveraged{Repeats: 5, CCAbsMedian: 0.42, CCMaxMedian: 0.7, CCNormMedian: 0.6, CCNormQ1: 0.45, CCNormQ3: 0.75},
			MedianR:       0.375, Q1R: 0.3125, Q3R: 0.4375, PerNeuron: []float64{0.25, 0.5, math.NaN()}},
		events.KindAdapted:  events.Adapted{Block: "mapping", Neurons: 100, Samples: 8990, Seconds: 12.5, MedianCVR: 0.55},
		events.KindSelected: events.Selected{Block: "targets", Targets: []string{"n17", "n4"}, Seconds: 95.25, MedianOptimalR: events.NaN()},
		events.KindVerified: events.Verified{Block: "check", Targets: 2, Evaluated: 2, Driven: 1, Significant: 1, DrivenFraction: 0.5, MedianZ: 1.75},
		events.KindControl:  events.Control{Command: events.CommandPause, State: "paused", Reason: "animal moved"},
		events.KindFinished: events.Finished{Status: events.StatusOK, DurationS: 1800, WallS: 82.5, FramesShown: 54000, FramesDropped: 0, Scans: 54000,
			Output: "runs/demo-20261126T182500"},
		events.KindError: events.ErrorReport{Message: "dropped 2 frames", Plugin: "stimulus"},
	}
}

// exampleMessage writes p as the example session's seq-th message: the
// envelope on the first line, the payload's fields on the second.
func exampleMessage(p events.Payload, seq int) (string, error) {
	fields, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("example %s: %w", p.Kind(), err)
	}
	head := fmt.Sprintf(`{"schema":%d,"kind":%q,"rig":%q,"session":%q,"time":%q,"seq":%d,`,
		events.SchemaVersion, p.Kind(), exampleRig, exampleSession, exampleTime(seq), seq)
	return head + "\n " + string(fields[1:]), nil
}
