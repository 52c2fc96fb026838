package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
)

// TestConformance runs the stimulus conformance suite, render and
// sequences included, at the default and at another refresh rate.
func TestConformance(t *testing.T) {
	rigtest.Stimulus(t, New())
	t.Run("refresh_hz=60", func(t *testing.T) {
		rigtest.Stimulus(t, New(), rigtest.WithSettings(json.RawMessage(`{"refresh_hz": 60}`)))
	})
}

// configured returns a plugin configured with settings.
func configured(t *testing.T, settings string) *Plugin {
	t.Helper()
	p := New()
	_, err := p.Configure(context.Background(), rig.ConfigureRequest{Settings: json.RawMessage(settings)})
	require.NoError(t, err, "Configure %s", settings)
	return p
}

// present returns the pixels of n frames of spec shown at w x h on the
// virtual clock.
func present(t *testing.T, s rig.Stimulus, spec string, n, w, h int) [][]byte {
	t.Helper()
	var frames [][]byte
	_, err := s.Present(context.Background(), rig.PresentRequest{BlockID: "test", Spec: json.RawMessage(spec), Frames: n, Width: w, Height: h},
		func(f rig.ShownFrame) error { frames = append(frames, f.Frame.Pixels); return nil })
	require.NoError(t, err, "Present %s", spec)
	require.Len(t, frames, n)
	return frames
}

// render renders n frames of spec at w x h and rateHz.
func render(t *testing.T, r rig.Renderer, spec string, n, w, h int, rateHz float64) [][]byte {
	t.Helper()
	resp, err := r.Render(context.Background(), rig.RenderRequest{
		Items: []rig.RenderItem{{Spec: json.RawMessage(spec), Frames: n}}, Width: w, Height: h, RateHz: rateHz})
	require.NoError(t, err, "Render %s", spec)
	var out [][]byte
	for _, f := range resp.Items[0] {
		out = append(out, f.Pixels)
	}
	return out
}

// hostSpecs are specs of the forms the host writes, and drifting ones.
var hostSpecs = []string{
	`{"family":"blank"}`,
	`{"family":"blank","seed":3,"level":30}`,
	`{"family":"natural","seed":5}`,
	`{"family":"gabor","x":0.15,"y":0.85,"orientation_deg":22.5,"cycles_per_width":4.5,"phase_deg":90,"sigma":0.0888889,"contrast":1,"temporal_freq_hz":0}`,
	`{"family":"gabor","x":0.6,"y":0.4,"orientation_deg":135,"cycles_per_width":8,"phase_deg":0,"sigma":0.05,"contrast":0.5,"temporal_freq_hz":3}`,
	`{"family":"pink_noise","seed":7,"alpha":2,"contrast":0.2,"speed":0}`,
	`{"family":"pink_noise","seed":8,"alpha":1,"contrast":0.3,"speed":0.3,"direction_deg":45}`,
}

// TestRenderMatchesPresent checks, through the gRPC contract, that Render
// gives the pixels Present shows for every family at the model's size, and
// that static specs stay static.
func TestRenderMatchesPresent(t *testing.T) {
	c, closeFn, err := rig.LoopbackStimulus(New())
	require.NoError(t, err)
	t.Cleanup(closeFn)
	s := c.(rig.Stimulus)
	_, err = s.Configure(context.Background(), rig.ConfigureRequest{Settings: json.RawMessage(`{"refresh_hz": 30}`)})
	require.NoError(t, err)
	const w, h, n = 256, 144, 6
	for _, spec := range hostSpecs {
		shown := present(t, s, spec, n, w, h)
		require.Equal(t, shown, render(t, s.(rig.Renderer), spec, n, w, h, 30), "Render vs Present: %s", spec)
		var fields map[string]any
		require.NoError(t, json.Unmarshal([]byte(spec), &fields))
		static := fields["temporal_freq_hz"] == 0.0 || fields["speed"] == 0.0 || fields["family"] == "blank"
		if static {
			for k := range shown {
				require.Equal(t, shown[0], shown[k], "%s: frame %d differs from frame 0", spec, k)
			}
		} else {
			require.NotEqual(t, shown[0], shown[n-1], "%s: does not move", spec)
		}
	}
}

// TestGaborGeometry checks the patch against rig/proto/STIMULI.md: its
// peak at (x W, y H) from the top-left corner, orientations measured with
// y up, and drift along the wave vector.
func TestGaborGeometry(t *testing.T) {
	p := New()
	const w, h = 256, 144
	one := func(spec string, rateHz float64, frame int) []byte {
		return render(t, p, spec, frame+1, w, h, rateHz)[frame]
	}
	at := func(px []byte, x, y float64) int { return int(px[int(y)*w+int(x)]) }

	// An even patch (phase 90): the energy's centroid and the brightest
	// pixel are at the documented centre.
	px := one(`{"family":"gabor","x":0.3,"y":0.7,"sigma":0.05,"orientation_deg":30,"cycles_per_width":4,"phase_deg":90,"contrast":0.5,"temporal_freq_hz":0}`, 30, 0)
	var sum, sx, sy float64
	best, bestAt := -1, [2]int{}
	for r := range h {
		for c := range w {
			v := float64(px[r*w+c]) - 128
			sum += v * v
			sx += v * v * (float64(c) + 0.5)
			sy += v * v * (float64(r) + 0.5)
			if int(px[r*w+c]) > best {
				best, bestAt = int(px[r*w+c]), [2]int{c, r}
			}
		}
	}
	xc, yc := 0.3*w, 0.7*h
	require.InDelta(t, xc, sx/sum, 0.5, "centroid x")
	require.InDelta(t, yc, sy/sum, 0.5, "centroid y")
	require.InDelta(t, xc, float64(bestAt[0])+0.5, 1.5, "brightest pixel's column")
	require.InDelta(t, yc, float64(bestAt[1])+0.5, 1.5, "brightest pixel's row")
	require.InDelta(t, 128+127*0.5, best, 1, "peak level")

	// Phase 0, 4 cycles per width: a 64-pixel period. Orientation 0 is
	// bright a quarter period right of the centre; orientation 90 a quarter
	// period above it (y up).
	px = one(`{"family":"gabor","sigma":0.1,"cycles_per_width":4,"temporal_freq_hz":0}`, 30, 0)
	require.Greater(t, at(px, 128+16, 72), 200, "orientation 0: right of the centre")
	require.Less(t, at(px, 128-16, 72), 56, "orientation 0: left of the centre")
	px = one(`{"family":"gabor","sigma":0.1,"cycles_per_width":4,"orientation_deg":90,"temporal_freq_hz":0}`, 30, 0)
	require.Greater(t, at(px, 128, 72-16), 200, "orientation 90: above the centre")
	require.Less(t, at(px, 128, 72+16), 56, "orientation 90: below the centre")

	// 1 Hz rendered at 4 Hz: frame 1 is a quarter cycle on. Drifting right,
	// the centre then shows what was a quarter period to its left (dark).
	px = one(`{"family":"gabor","sigma":0.1,"cycles_per_width":4,"temporal_freq_hz":1,"phase_deg":0}`, 4, 1)
	require.Less(t, at(px, 128, 72), 10, "centre a quarter cycle into a rightward drift")
}

// TestGaborAgreesWithBuiltIn compares the Gabor patches of this plugin,
// written from rig/proto/STIMULI.md, with the built-in library's: the
// documented geometry is the built-in one.
func TestGaborAgreesWithBuiltIn(t *testing.T) {
	const w, h, rate = 256, 144, 30.0
	p := New()
	for _, spec := range []string{
		hostSpecs[3], hostSpecs[4],
		`{"family":"gabor","x":0.85,"y":0.15,"orientation_deg":-67.5,"cycles_per_width":2.5,"phase_deg":270,"sigma":0.16,"contrast":0.8,"temporal_freq_hz":0}`,
		`{"family":"gabor"}`,
	} {
		seq, err := stimuli.New(json.RawMessage(spec), w, h, rate)
		require.NoError(t, err, spec)
		ours := render(t, p, spec, 3, w, h, rate)
		want := make([]byte, w*h)
		for k, got := range ours {
			seq.Render(k, want)
			for i := range want {
				require.InDelta(t, want[i], got[i], 1, "%s frame %d pixel (%d, %d)", spec, k, i%w, i/w)
			}
		}
	}
}

// TestNatural checks the natural video's statistics: mean near 128, real
// contrast, motion, seeds that differ, and edges of every orientation.
func TestNatural(t *testing.T) {
	p := New()
	const w, h = 256, 144
	frames := render(t, p, `{"family":"natural","seed":1}`, 91, w, h, 30)
	var energy [4]float64
	for _, k := range []int{0, 45, 90} {
		px := frames[k]
		var sum, ss float64
		for _, v := range px {
			sum += float64(v)
			ss += float64(v) * float64(v)
		}
		mean := sum / float64(len(px))
		require.InDelta(t, 128, mean, 25, "frame %d: mean", k)
		require.Greater(t, math.Sqrt(ss/float64(len(px))-mean*mean), 15.0, "frame %d: RMS contrast", k)
		// Gradient energy by orientation, in four bins over 180 degrees.
		for r := 1; r < h-1; r++ {
			for c := 1; c < w-1; c++ {
				gx := float64(px[r*w+c+1]) - float64(px[r*w+c-1])
				gy := float64(px[(r-1)*w+c]) - float64(px[(r+1)*w+c])
				o := math.Mod(math.Atan2(gy, gx)+math.Pi, math.Pi)
				energy[min(3, int(o/(math.Pi/4)))] += gx*gx + gy*gy
			}
		}
	}
	total := energy[0] + energy[1] + energy[2] + energy[3]
	for b, e := range energy {
		require.Greater(t, e/total, 0.12, "orientation bin %d of 4 has too little of the edge energy", b)
	}
	require.NotEqual(t, frames[0], frames[30], "the video moves")
	require.NotEqual(t, frames[0], render(t, p, `{"family":"natural","seed":2}`, 1, w, h, 30)[0], "seeds 1 and 2")
}

// TestSpecErrors checks that bad specs and settings wrap rig.ErrInvalid
// and name the field.
func TestSpecErrors(t *testing.T) {
	p := configured(t, `{}`)
	for spec, field := range map[string]string{
		`{"family":"gabor","sigmaa":0.1}`:             "sigmaa",
		`{"family":"gabor","sigma":2}`:                "sigma",
		`{"family":"gabor","cycles_per_width":40}`:    "cycles_per_width", // above 64/2
		`{"family":"gabor","temporal_freq_hz":16}`:    "temporal_freq_hz", // above 30/2
		`{"family":"blank","level":256}`:              "level",
		`{"family":"blank","level":1.5}`:              "level",
		`{"family":"natural","seed":1.5}`:             "seed",
		`{"family":"natural","alpha":2}`:              "alpha",
		`{"family":"pink_noise","alpha":"one"}`:       "alpha",
		`{"family":"pink_noise","direction_deg":400}`: "direction_deg",
		`{"family":"nope"}`:                           "family",
		`{"seed":1}`:                                  "family",
	} {
		_, err := p.Render(context.Background(), rig.RenderRequest{Items: []rig.RenderItem{{Spec: json.RawMessage(`{"family":"blank"}`)}, {Spec: json.RawMessage(spec)}}, Width: 64, Height: 36, RateHz: 30})
		require.ErrorIs(t, err, rig.ErrInvalid, spec)
		require.ErrorContains(t, err, "render item 1", spec)
		require.ErrorContains(t, err, fmt.Sprintf("%q", field), spec)
		_, err = p.Present(context.Background(), rig.PresentRequest{BlockID: "b", Spec: json.RawMessage(spec), Frames: 1, Width: 64, Height: 36},
			func(rig.ShownFrame) error { return nil })
		require.ErrorIs(t, err, rig.ErrInvalid, spec)
	}
	for _, settings := range []string{`{"refresh":60}`, `{"refresh_hz":0}`, `{"refresh_hz":"60"}`, `[]`} {
		_, err := New().Configure(context.Background(), rig.ConfigureRequest{Settings: json.RawMessage(settings)})
		require.ErrorIs(t, err, rig.ErrInvalid, settings)
	}
	_, err := New().Describe(context.Background(), rig.DescribeRequest{})
	require.ErrorIs(t, err, rig.ErrState, "Describe before Configure")
	seq := &rig.FrameSequence{RateHz: 30, Frames: []rig.Frame{{Width: 1, Height: 1, Pixels: []byte{1}}}}
	_, err = p.Present(context.Background(), rig.PresentRequest{Spec: json.RawMessage(`{"family":"blank"}`), Sequence: seq, Frames: 1, Width: 4, Height: 4},
		func(rig.ShownFrame) error { return nil })
	require.ErrorIs(t, err, rig.ErrInvalid, "a spec and a sequence")
}

// TestSequenceStretch checks that a frame sequence is stretched to the
// reported size by nearest neighbour and comes back unchanged at its own.
func TestSequenceStretch(t *testing.T) {
	p := configured(t, `{}`)
	show := func(seq *rig.FrameSequence, n, w, h int) [][]byte {
		var out [][]byte
		_, err := p.Present(context.Background(), rig.PresentRequest{Sequence: seq, Frames: n, Width: w, Height: h},
			func(f rig.ShownFrame) error { out = append(out, f.Frame.Pixels); return nil })
		require.NoError(t, err)
		return out
	}
	seq := &rig.FrameSequence{RateHz: 30, Frames: []rig.Frame{
		{Width: 2, Height: 2, Pixels: []byte{1, 2, 3, 4}},
		{Width: 2, Height: 2, Pixels: []byte{5, 6, 7, 8}},
	}}
	got := show(seq, 3, 4, 4)
	require.Equal(t, []byte{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, got[0])
	require.Equal(t, []byte{5, 5, 6, 6, 5, 5, 6, 6, 7, 7, 8, 8, 7, 7, 8, 8}, got[1])
	require.Equal(t, got[0], got[2], "the sequence loops")
	require.Equal(t, [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}, show(seq, 2, 2, 2), "unchanged at its own size")
}

// TestRealClock checks that the real clock paces frames at the refresh
// rate and stamps them on the session clock.
func TestRealClock(t *testing.T) {
	p := configured(t, `{"refresh_hz": 100}`)
	epoch := time.Now().Add(-time.Second)
	var times []time.Duration
	started := time.Now()
	resp, err := p.Present(context.Background(), rig.PresentRequest{Spec: json.RawMessage(`{"family":"blank"}`), Frames: 6, Width: 8, Height: 8,
		Clock: rig.RealClock, Epoch: epoch}, func(f rig.ShownFrame) error { times = append(times, f.Time); return nil })
	require.NoError(t, err)
	require.Equal(t, 6, resp.Shown)
	require.GreaterOrEqual(t, time.Since(started), 50*time.Millisecond, "six frames at 100 Hz span 50 ms")
	require.Greater(t, times[0], time.Second, "stamped on the session clock")
	for i := 1; i < len(times); i++ {
		require.Greater(t, times[i], times[i-1], "frame %d", i)
	}
	require.GreaterOrEqual(t, times[5]-times[0], 49*time.Millisecond)
}
