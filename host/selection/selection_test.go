package selection_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/selection"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

// quiet drops the selector's log lines.
var quiet = slog.New(slog.DiscardHandler)

// info describes the fake model (evaluator): small frames at 30 Hz.
var info = evaluator(0, nil).Info()

// fakeRenderer renders every spec as uniform frames of one gray level,
// derived from the spec, and records the requests. It stays local:
// rigfake's stimulus renders by family and seed alone, so the pools'
// candidates (gabors without a seed) would not differ.
type fakeRenderer struct {
	mu   sync.Mutex
	reqs []rig.RenderRequest
	err  error
}

// level is the gray level fakeRenderer renders spec at.
func level(spec json.RawMessage) byte {
	h := fnv.New32a()
	h.Write(spec)
	return byte(20 + h.Sum32()%200)
}

func (r *fakeRenderer) Render(_ context.Context, req rig.RenderRequest) (rig.RenderResponse, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	if r.err != nil {
		return rig.RenderResponse{}, r.err
	}
	out := rig.RenderResponse{Items: make([][]rig.Frame, len(req.Items))}
	for i, it := range req.Items {
		for range it.Frames {
			px := bytes.Repeat([]byte{level(it.Spec)}, req.Width*req.Height)
			out.Items[i] = append(out.Items[i], rig.Frame{Width: req.Width, Height: req.Height, Pixels: px})
		}
	}
	return out, nil
}

// items returns every rendered item's spec and frame count.
func (r *fakeRenderer) items() []rig.RenderItem {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []rig.RenderItem
	for _, req := range r.reqs {
		out = append(out, req.Items...)
	}
	return out
}

// evaluator is the fake model, rigfake's, that evaluates candidates: its
// neuron n's response to a frame of mean gray level g is response(n, g),
// so an even target's best item is the brightest and an odd target's the
// darkest. fail, when set, is the error of every Evaluate after the first
// after calls.
func evaluator(after int, fail error) *rigfake.Model {
	m := &rigfake.Model{Neurons: 4, Width: 16, Height: 9, FrameRateHz: 30, BurnInFrames: 2, Evaluates: true,
		Respond: func(f rig.Frame) []float32 {
			sum := 0.0
			for _, p := range f.Pixels {
				sum += float64(p)
			}
			v := make([]float32, 4)
			for n := range v {
				v[n] = float32(response(n, sum/float64(len(f.Pixels))))
			}
			return v
		}}
	m.Fail = func(method string) error {
		if fail != nil && method == "Evaluate" && m.Count("Evaluate") > after {
			return fail
		}
		return nil
	}
	return m
}

// response is evaluator's answer for a candidate of mean gray level g.
func response(neuron int, g float64) float64 {
	if neuron%2 == 0 {
		return g / 255
	}
	return 1 - g/255
}

// selectBlock returns a small select block: the pools given and a short
// synthesis of images and videos.
func selectBlock(natural, gabor, noise bool, images, videos int) *protocols.SelectBlock {
	sel := &protocols.SelectBlock{
		Pool: protocols.Pool{Keep: 2},
		Synthesise: protocols.Synthesis{Images: images, Videos: videos, VideoDuration: 300 * time.Millisecond,
			Contrast: 0.15, Mean: 128, Iterations: 2, Population: 4, Diversity: 0.5},
	}
	if natural {
		sel.Pool.Natural = &protocols.NaturalPool{Clips: 3, Duration: 400 * time.Millisecond, Seed: 7}
	}
	if gabor {
		sel.Pool.Gabor = &protocols.GaborPool{Orientations: 2, CyclesPerWidth: []float64{2}, Phases: 1, Sigmas: []float64{0.4}, Columns: 2, Rows: 1}
	}
	if noise {
		sel.Pool.Noise = &protocols.NoisePool{Count: 2, Seed: 3}
	}
	return sel
}

// familyOf returns a spec's family.
func familyOf(t *testing.T, spec json.RawMessage) string {
	var s struct{ Family string }
	require.NoError(t, json.Unmarshal(spec, &s))
	return s.Family
}

func TestSelectFillsControlsAndMEIs(t *testing.T) {
	families := map[protocols.Control]string{
		protocols.ControlBestNatural: "natural", protocols.ControlBestGabor: "gabor", protocols.ControlBestNoise: "pink_noise",
	}
	for _, tc := range []struct {
		name                  string
		natural, gabor, noise bool
		images, videos        int
		// wantFrames is what the pool asks the renderer for, by family.
		wantItems    map[string]int
		wantFrames   map[string]int
		wantControls []protocols.Control
		wantMEIs     []string
	}{
		{
			name: "every pool, an image and a video", natural: true, gabor: true, noise: true, images: 1, videos: 1,
			wantItems:    map[string]int{"natural": 3, "gabor": 4, "pink_noise": 2},
			wantFrames:   map[string]int{"natural": 12, "gabor": 1, "pink_noise": 1},
			wantControls: []protocols.Control{protocols.ControlBestNatural, protocols.ControlBestGabor, protocols.ControlBestNoise},
			wantMEIs:     []string{"mei", "mei-video"},
		},
		{
			name: "gabors only, two images", gabor: true, images: 2,
			wantItems:    map[string]int{"gabor": 4},
			wantFrames:   map[string]int{"gabor": 1},
			wantControls: []protocols.Control{protocols.ControlBestGabor},
			wantMEIs:     []string{"mei", "mei-2"},
		},
		{
			name: "natural and noise, videos only", natural: true, noise: true, videos: 1,
			wantItems:    map[string]int{"natural": 3, "pink_noise": 2},
			wantFrames:   map[string]int{"natural": 12, "pink_noise": 1},
			wantControls: []protocols.Control{protocols.ControlBestNatural, protocols.ControlBestNoise},
			wantMEIs:     []string{"mei-video"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			render, ev := &fakeRenderer{}, evaluator(0, nil)
			var progress bytes.Buffer
			targets := []session.Target{{Neuron: 5, ID: "a"}, {Neuron: 9, ID: "b"}}
			cols := []int{2, 1} // an even and an odd model column
			sel := selectBlock(tc.natural, tc.gabor, tc.noise, tc.images, tc.videos)
			err := selection.New(quiet, &progress).Select(t.Context(), ev, render, info, sel, targets, cols)
			require.NoError(t, err)

			// The pool is built from the block's settings at the model's
			// size and rate.
			require.NotEmpty(t, render.reqs)
			for _, req := range render.reqs {
				require.Equal(t, info.Width, req.Width, "render width")
				require.Equal(t, info.Height, req.Height, "render height")
				require.Equal(t, info.FrameRateHz, req.RateHz, "render rate")
			}
			items, frames := map[string]int{}, map[string]int{}
			for _, it := range render.items() {
				f := familyOf(t, it.Spec)
				items[f]++
				frames[f] = it.Frames
			}
			require.Equal(t, tc.wantItems, items, "pool items by family")
			require.Equal(t, tc.wantFrames, frames, "frames rendered per item by family")

			// Each target's controls are its best pool item of each kind.
			for i, tg := range targets {
				require.Len(t, tg.Controls, len(tc.wantControls), "target %d's controls", i)
				for _, c := range tc.wantControls {
					got, ok := tg.Controls[c]
					require.True(t, ok, "target %d has control %s", i, c)
					require.Equal(t, string(c), got.Name)
					require.Equal(t, families[c], familyOf(t, got.Spec))
					require.Len(t, got.Frames, 1, "a control keeps its first frame")
					best := math.Inf(-1)
					for _, it := range render.items() {
						if familyOf(t, it.Spec) == families[c] {
							best = math.Max(best, response(cols[i], float64(level(it.Spec))))
						}
					}
					require.InDelta(t, best, got.Predicted, 1e-5, "target %d's %s is its best item", i, c)
					require.InDelta(t, best, response(cols[i], float64(level(got.Spec))), 1e-9, "its spec is that item's")
				}

				// MEIs as frame sequences at the model's rate.
				var names []string
				for _, m := range tg.MEIs {
					names = append(names, m.Name)
					require.NotNil(t, m.Sequence, m.Name)
					require.NoError(t, m.Sequence.Check(), m.Name)
					require.Equal(t, info.FrameRateHz, m.Sequence.RateHz, m.Name)
					require.Equal(t, info.Width, m.Sequence.Frames[0].Width, m.Name)
					require.Equal(t, info.Height, m.Sequence.Frames[0].Height, m.Name)
					want := 1
					if strings.HasPrefix(m.Name, "mei-video") {
						want = 9 // 300 ms at 30 Hz
					}
					require.Len(t, m.Sequence.Frames, want, m.Name)
					require.Nil(t, m.Spec, m.Name)
				}
				require.Equal(t, tc.wantMEIs, names, "target %d's MEIs", i)
			}

			// A progress line per generation of each synthesis.
			lines := strings.Split(strings.TrimRight(progress.String(), "\n"), "\n")
			wantLines := 0
			if tc.images > 0 {
				wantLines += 2 * tc.images
			}
			if tc.videos > 0 {
				wantLines += 2 * tc.videos
			}
			require.Len(t, lines, wantLines, progress.String())
			line := regexp.MustCompile(`^ +\d+\.\d%  synthesising mei(-video)? MEIs for 2 targets: generation \d+/\d+$`)
			for _, l := range lines {
				require.Regexp(t, line, l)
			}
		})
	}
}

func TestSelectQuietWithoutAProgressWriter(t *testing.T) {
	targets := []session.Target{{Neuron: 0}}
	err := selection.New(quiet, nil).Select(t.Context(), evaluator(0, nil), &fakeRenderer{}, info,
		selectBlock(false, true, false, 1, 0), targets, []int{0})
	require.NoError(t, err)
	require.Len(t, targets[0].MEIs, 1)
}

func TestSelectReturnsErrors(t *testing.T) {
	errRender := errors.New("render failed")
	errEval := errors.New("evaluate failed")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		render *fakeRenderer
		ev     *rigfake.Model
		sel    *protocols.SelectBlock
		want   error
		says   string
	}{
		{name: "natural pool", render: &fakeRenderer{err: errRender}, ev: evaluator(0, nil),
			sel: selectBlock(true, false, false, 1, 0), want: errRender, says: "natural pool"},
		{name: "gabor pool", render: &fakeRenderer{err: errRender}, ev: evaluator(0, nil),
			sel: selectBlock(false, true, false, 1, 0), want: errRender, says: "gabor pool"},
		{name: "noise pool", render: &fakeRenderer{err: errRender}, ev: evaluator(0, nil),
			sel: selectBlock(false, false, true, 1, 0), want: errRender, says: "noise pool"},
		{name: "ranking", render: &fakeRenderer{}, ev: evaluator(0, errEval),
			sel: selectBlock(false, true, false, 1, 0), want: errEval, says: "ranking"},
		{name: "cancelled", ctx: cancelled, render: &fakeRenderer{}, ev: evaluator(0, nil),
			sel: selectBlock(false, true, false, 1, 0), want: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			targets := []session.Target{{Neuron: 0}}
			err := selection.New(quiet, nil).Select(ctx, tc.ev, tc.render, info, tc.sel, targets, []int{0})
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), tc.says)
		})
	}
}

// A synthesis that fails (here the evaluator, after the ranking) names
// the MEIs it was synthesising.
func TestSelectReturnsSynthesisErrors(t *testing.T) {
	errEval := errors.New("evaluate failed")
	ev := evaluator(1, errEval)
	targets := []session.Target{{Neuron: 0}}
	err := selection.New(quiet, nil).Select(t.Context(), ev, &fakeRenderer{}, info, selectBlock(false, true, false, 1, 0), targets, []int{0})
	require.ErrorIs(t, err, errEval)
	require.Contains(t, err.Error(), "synthesising mei MEIs")
}
