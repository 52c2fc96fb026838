package mei

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/twinrig/twinrig/rig"
)

// Kind says what a pool item is.
type Kind string

// The kinds of pool items.
const (
	KindNatural Kind = "natural" // a clip of the procedural natural video
	KindGabor   Kind = "gabor"   // a static Gabor patch
	KindNoise   Kind = "noise"   // a static pink-noise image
)

// PoolItem is one candidate stimulus of a ranking pool: its frames at the
// model's size and rate, rendered by the stimulus plugin (rig.Renderer),
// and the stimulus spec that shows the same stimulus again. The specs are
// in the contract's spec language (rig/proto/STIMULI.md).
type PoolItem struct {
	Kind Kind
	// Spec is a stimulus library spec (JSON) that replays the item.
	Spec json.RawMessage
	// Frames are the rendered frames, one per model step, each held for
	// HoldFrames steps (see rig.Candidate).
	Frames     []rig.Frame
	HoldFrames int
	// Gabor describes a KindGabor item in the synthesis's terms (nil for
	// the other kinds); Synthesise starts its search from it.
	Gabor *Params
}

// Candidate returns the item as a candidate for rig.Evaluator.
func (p PoolItem) Candidate() rig.Candidate {
	return rig.Candidate{Frames: p.Frames, HoldFrames: p.HoldFrames}
}

// FrameSize is the geometry of the model's frames: the pools and MEIs are
// rendered at that size and rate.
type FrameSize struct {
	Width, Height int
	RateHz        float64
}

// DefaultFrameSize is the built-in model's frame: 256 x 144 pixels at 30 Hz.
var DefaultFrameSize = FrameSize{Width: 256, Height: 144, RateHz: 30}

func (f FrameSize) check() error {
	if f.Width < 1 || f.Height < 1 || f.Width > rig.MaxRenderSize || f.Height > rig.MaxRenderSize || !(f.RateHz > 0) {
		return fmt.Errorf("mei: frame %dx%d at %g Hz, want a positive size and rate: %w", f.Width, f.Height, f.RateHz, rig.ErrInvalid)
	}
	return nil
}

// render fills every item's Frames with the first n frames of its Spec,
// rendered by r at f's size and rate (in as few Render calls as the
// answer's size allows).
func (f FrameSize) render(ctx context.Context, r rig.Renderer, items []PoolItem, n int) error {
	req := rig.RenderRequest{Width: f.Width, Height: f.Height, RateHz: f.RateHz, Items: make([]rig.RenderItem, len(items))}
	for i, it := range items {
		req.Items[i] = rig.RenderItem{Spec: it.Spec, Frames: n}
	}
	if len(items) == 0 {
		return nil
	}
	resp, err := rig.RenderAll(ctx, r, req)
	if err != nil {
		return fmt.Errorf("mei: rendering the %s pool: %w", items[0].Kind, err)
	}
	for i := range items {
		items[i].Frames = resp.Items[i]
	}
	return nil
}

// NaturalOptions sizes NaturalPool.
type NaturalOptions struct {
	// Clips is the number of clips (default 64); Frames each clip's
	// length in model steps (default 30: one second at 30 Hz).
	Clips, Frames int
	// Seed is the first clip's seed; clip i has Seed + i.
	Seed uint64
}

// NaturalPool returns opts.Clips clips of the "natural" family rendered by
// r, clip i the first Frames frames of seed Seed + i (its spec replays it
// from the start).
func NaturalPool(ctx context.Context, r rig.Renderer, f FrameSize, opts NaturalOptions) ([]PoolItem, error) {
	if opts.Clips == 0 {
		opts.Clips = 64
	}
	if opts.Frames == 0 {
		opts.Frames = 30
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	if opts.Clips < 0 || opts.Frames < 0 {
		return nil, fmt.Errorf("mei: natural pool: clips %d, frames %d, want positive counts: %w", opts.Clips, opts.Frames, rig.ErrInvalid)
	}
	items := make([]PoolItem, opts.Clips)
	for i := range items {
		spec := json.RawMessage(fmt.Sprintf(`{"family":"natural","seed":%d}`, opts.Seed+uint64(i)))
		items[i] = PoolItem{Kind: KindNatural, Spec: spec, HoldFrames: 1}
	}
	if err := f.render(ctx, r, items, opts.Frames); err != nil {
		return nil, err
	}
	return items, nil
}

// GaborOptions spans GaborPool's parameter grid. Zero values take the
// defaults.
type GaborOptions struct {
	// Columns x Rows centres evenly spread over the central Span of the
	// frame (defaults 7 x 4 over 0.7).
	Columns, Rows int
	Span          float64
	// Orientations evenly spread over [0, 180) degrees (default 8).
	Orientations int
	// CyclesPerWidth are the spatial frequencies (default 2.5, 4.5, 8).
	CyclesPerWidth []float64
	// PhasesDeg are the carrier phases (default 0 and 90: even and odd).
	PhasesDeg []float64
	// SigmaPeriods sets each patch's envelope s.d. in carrier periods
	// (default 0.4).
	SigmaPeriods []float64
	// Contrast is the Michelson contrast (default 1).
	Contrast float64
	// Hold is how many model steps each static patch is shown (default
	// 30).
	Hold int
}

// GaborPool returns static Gabor patches (the "gabor" family with
// temporal_freq_hz 0) over the grid of opts, in grid order, rendered by r.
func GaborPool(ctx context.Context, r rig.Renderer, f FrameSize, opts GaborOptions) ([]PoolItem, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if opts.Columns == 0 {
		opts.Columns = 7
	}
	if opts.Rows == 0 {
		opts.Rows = 4
	}
	if opts.Span == 0 {
		opts.Span = 0.7
	}
	if opts.Orientations == 0 {
		opts.Orientations = 8
	}
	if opts.CyclesPerWidth == nil {
		opts.CyclesPerWidth = []float64{2.5, 4.5, 8}
	}
	if opts.PhasesDeg == nil {
		opts.PhasesDeg = []float64{0, 90}
	}
	if opts.SigmaPeriods == nil {
		opts.SigmaPeriods = []float64{0.4}
	}
	if opts.Contrast == 0 {
		opts.Contrast = 1
	}
	if opts.Hold == 0 {
		opts.Hold = 30
	}
	if opts.Columns < 0 || opts.Rows < 0 || opts.Orientations < 0 || opts.Hold < 0 ||
		!(opts.Span > 0 && opts.Span <= 1) || !(opts.Contrast > 0 && opts.Contrast <= 1) {
		return nil, fmt.Errorf("mei: gabor pool: %+v, want positive counts, span and contrast in (0, 1]: %w", opts, rig.ErrInvalid)
	}
	at := func(i, n int) float64 {
		if n == 1 {
			return 0.5
		}
		return 0.5 - opts.Span/2 + opts.Span*float64(i)/float64(n-1)
	}
	var items []PoolItem
	for r := range opts.Rows {
		for c := range opts.Columns {
			for o := range opts.Orientations {
				for _, cyc := range opts.CyclesPerWidth {
					for _, sp := range opts.SigmaPeriods {
						for _, ph := range opts.PhasesDeg {
							x, y := at(c, opts.Columns), at(r, opts.Rows)
							deg := 180 * float64(o) / float64(opts.Orientations)
							sigma := sp / cyc
							spec := json.RawMessage(fmt.Sprintf(
								`{"family":"gabor","x":%g,"y":%g,"orientation_deg":%g,"cycles_per_width":%g,"phase_deg":%g,"sigma":%g,"contrast":%g,"temporal_freq_hz":0}`,
								x, y, deg, cyc, ph, sigma, opts.Contrast))
							// The family's carrier is sin(... + phase):
							// a cosine of phase - 90 degrees.
							g := &Params{X: x, Y: y, Sigma: sigma, Aspect: 1, Sharpness: minSharpness,
								Components: []Component{{OrientationDeg: deg, CyclesPerWidth: cyc, PhaseDeg: math.Mod(ph-90+360, 360), Amplitude: 1}}}
							items = append(items, PoolItem{Kind: KindGabor, Spec: spec, HoldFrames: opts.Hold, Gabor: g})
						}
					}
				}
			}
		}
	}
	if err := f.render(ctx, r, items, 1); err != nil {
		return nil, err
	}
	return items, nil
}

// NoiseOptions sizes NoisePool.
type NoiseOptions struct {
	// Images is the number of images (default 64), Seed the first one's
	// seed (image i has Seed + i).
	Images int
	Seed   uint64
	// Alphas are the spectral exponents cycled through (default 1, 2, 3).
	Alphas []float64
	// Contrast is the RMS contrast (default 0.2); Hold the model steps
	// each image is shown (default 30).
	Contrast float64
	Hold     int
}

// NoisePool returns static pink-noise images (the "pink_noise" family at
// speed 0) rendered by r, image i with seed Seed + i and the alpha
// Alphas[i % len].
func NoisePool(ctx context.Context, r rig.Renderer, f FrameSize, opts NoiseOptions) ([]PoolItem, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if opts.Images == 0 {
		opts.Images = 64
	}
	if opts.Alphas == nil {
		opts.Alphas = []float64{1, 2, 3}
	}
	if opts.Contrast == 0 {
		opts.Contrast = 0.2
	}
	if opts.Hold == 0 {
		opts.Hold = 30
	}
	if opts.Images < 0 || opts.Hold < 0 || len(opts.Alphas) == 0 {
		return nil, fmt.Errorf("mei: noise pool: %+v, want positive counts and at least one alpha: %w", opts, rig.ErrInvalid)
	}
	items := make([]PoolItem, opts.Images)
	for i := range items {
		spec := json.RawMessage(fmt.Sprintf(`{"family":"pink_noise","seed":%d,"alpha":%g,"contrast":%g,"speed":0}`,
			opts.Seed+uint64(i), opts.Alphas[i%len(opts.Alphas)], opts.Contrast))
		items[i] = PoolItem{Kind: KindNoise, Spec: spec, HoldFrames: opts.Hold}
	}
	if err := f.render(ctx, r, items, 1); err != nil {
		return nil, err
	}
	return items, nil
}
