package movie_test

import (
	"fmt"
	"time"

	"github.com/twinrig/twinrig/plugins/acquisition/movie"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/traces"
)

// A pipeline for 64x64 frames at 30 Hz with two ROIs read from a mask
// document, fed three frames.
func ExamplePipeline() {
	masks, err := traces.ParseMasks([]byte(`{"width": 64, "height": 64, "rois": [
		{"id": "a", "ypix": [10, 10, 11, 11], "xpix": [10, 11, 10, 11]},
		{"id": "b", "ypix": [40, 40, 41], "xpix": [30, 31, 30], "lam": [1, 0.5, 0.5]}]}`), "example.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := movie.New(movie.Config{Width: 64, Height: 64, Masks: masks, Rate: 30, Lag: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	frame := make([]uint16, 64*64)
	for i := range frame {
		frame[i] = uint16(100 + i%7)
	}
	for k := range 3 {
		s, err := p.Process(frame, time.Duration(k)*time.Second/30)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("seq %d at %v: %d ROIs, activity valid %v (for frame %d)\n",
			s.Seq, s.SourceTime.Round(time.Millisecond), len(s.DFF), s.ActivityValid, s.ActivitySeq)
	}
	fmt.Println(p.ROIs())
	// Output:
	// seq 0 at 0s: 2 ROIs, activity valid false (for frame 0)
	// seq 1 at 33ms: 2 ROIs, activity valid true (for frame 0)
	// seq 2 at 67ms: 2 ROIs, activity valid true (for frame 1)
	// [a b]
}
