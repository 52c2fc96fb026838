package rigfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

// A Recorder keeps what a stimulus showed and an acquisition read; the
// recording, saved and loaded again, plays the session back.
func ExampleRecorder() {
	ctx := context.Background()
	r := rigfake.NewRecorder()
	stim := r.Stimulus(&rigfake.Stimulus{RefreshRateHz: 30})
	acq := r.Acquisition(&rigfake.Acquisition{Neurons: 2, ImagingRateHz: 10})
	if _, err := acq.Start(ctx, rig.StartRequest{}); err != nil {
		log.Fatal(err)
	}
	var shown []rig.ShownFrame
	_, err := stim.Present(ctx, rig.PresentRequest{Spec: json.RawMessage(`{"family":"gray","level":255}`), Frames: 3, Width: 4, Height: 2},
		func(f rig.ShownFrame) error { shown = append(shown, f); return nil })
	if err != nil {
		log.Fatal(err)
	}
	if _, err := acq.Observe(ctx, rig.ObserveRequest{Frames: shown}); err != nil {
		log.Fatal(err)
	}
	if _, err := acq.Read(ctx, rig.ReadRequest{Until: 100_000_000}); err != nil {
		log.Fatal(err)
	}

	var file bytes.Buffer
	if err := rigfake.Encode(&file, r.Recording()); err != nil {
		log.Fatal(err)
	}
	rec, err := rigfake.Decode(&file)
	if err != nil {
		log.Fatal(err)
	}
	play := rigfake.NewPlaybackAcquisition(rec)
	if _, err := play.Start(ctx, rig.StartRequest{}); err != nil {
		log.Fatal(err)
	}
	resp, err := play.Read(ctx, rig.ReadRequest{Until: 100_000_000})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range resp.Scans {
		fmt.Println(s.Time, s.Values)
	}
	// Output:
	// 0s [2 3]
	// 100ms [2 3]
}
