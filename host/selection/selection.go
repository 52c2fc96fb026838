package selection

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/twinrig/twinrig/host/mei"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// Selector implements session.Selector with package host/mei: it builds
// the select block's candidate pool at the model's frame size, ranks it for
// every target with the adapted model (batched Evaluate calls), keeps each
// target's best item of each kind as its controls, and synthesises its
// image (and video) MEIs warm-started from its best Gabors. It is safe for
// concurrent use.
type Selector struct {
	log *slog.Logger
	// progress receives a line per synthesis generation (nil: quiet).
	progress io.Writer
}

var _ session.Selector = (*Selector)(nil)

// New returns a Selector that logs to log (nil: slog.Default()) and
// writes a progress line per synthesis generation to progress (nil: none).
func New(log *slog.Logger, progress io.Writer) *Selector {
	if log == nil {
		log = slog.Default()
	}
	return &Selector{log: log, progress: progress}
}

// steps converts a duration into model steps at rate (at least 1).
func steps(d time.Duration, rate float64) int {
	return max(1, int(math.Round(d.Seconds()*rate)))
}

// Select fills every target's Controls (its best pool item of each kind)
// and MEIs (sel.Synthesise's images, then its videos, as rig.FrameSequence
// at the model's frame rate). The pool is rendered by render at info's
// frame size and rate and ranked for the model columns cols (one per
// target) by ev. Errors of the pool, the ranking or the synthesis are
// returned with what failed.
func (m *Selector) Select(ctx context.Context, ev rig.Evaluator, render rig.Renderer, info rig.ModelInfo, sel *protocols.SelectBlock,
	targets []session.Target, cols []int) error {
	frame := mei.FrameSize{Width: info.Width, Height: info.Height, RateHz: info.FrameRateHz}
	// Static candidates are evaluated over half a second (after the
	// model's burn-in on gray): the model's core settles within a few
	// frames, and the ranking only compares candidates.
	hold := steps(500*time.Millisecond, info.FrameRateHz)
	eval := mei.Eval{Warmup: info.BurnInFrames}
	started := time.Now()
	var pool []mei.PoolItem
	if p := sel.Pool.Natural; p != nil {
		items, err := mei.NaturalPool(ctx, render, frame, mei.NaturalOptions{Clips: p.Clips, Frames: steps(p.Duration, info.FrameRateHz), Seed: p.Seed})
		if err != nil {
			return err
		}
		pool = append(pool, items...)
	}
	if p := sel.Pool.Gabor; p != nil {
		items, err := mei.GaborPool(ctx, render, frame, mei.GaborOptions{
			Columns: p.Columns, Rows: p.Rows, Orientations: p.Orientations, CyclesPerWidth: p.CyclesPerWidth,
			PhasesDeg: phases(p.Phases), SigmaPeriods: p.Sigmas, Hold: hold,
		})
		if err != nil {
			return err
		}
		pool = append(pool, items...)
	}
	if p := sel.Pool.Noise; p != nil {
		items, err := mei.NoisePool(ctx, render, frame, mei.NoiseOptions{Images: p.Count, Seed: p.Seed, Hold: hold})
		if err != nil {
			return err
		}
		pool = append(pool, items...)
	}
	m.log.Info("ranking the candidate pool", "items", len(pool), "targets", len(targets), "rendered_in", time.Since(started))
	ranks, err := mei.Rank(ctx, ev, cols, pool, mei.RankOptions{Keep: sel.Pool.Keep, Eval: eval})
	if err != nil {
		return fmt.Errorf("ranking %d candidates for %d targets: %w", len(pool), len(targets), err)
	}
	synth := make([]mei.Target, len(targets))
	for i, r := range ranks {
		t := &targets[i]
		t.Controls = map[protocols.Control]session.Choice{}
		for kind, control := range map[mei.Kind]protocols.Control{
			mei.KindNatural: protocols.ControlBestNatural, mei.KindGabor: protocols.ControlBestGabor, mei.KindNoise: protocols.ControlBestNoise,
		} {
			if best := r.ByKind[kind]; len(best) > 0 {
				item := pool[best[0].Item]
				t.Controls[control] = session.Choice{Name: string(control), Spec: item.Spec, Predicted: best[0].Response, Frames: item.Frames[:1]}
			}
		}
		synth[i] = mei.Target{Neuron: cols[i]}
		for _, s := range r.ByKind[mei.KindGabor] {
			synth[i].Warm = append(synth[i].Warm, pool[s.Item])
		}
	}
	s := sel.Synthesise
	opts := mei.SynthOptions{
		Frame: frame, Hold: hold, Diversity: s.Diversity, Mean: s.Mean, Contrast: s.Contrast,
		Iterations: s.Iterations, Population: s.Population, Eval: eval, Logger: m.log,
	}
	add := func(video bool, count int, name string) error {
		if count == 0 {
			return nil
		}
		o := opts
		o.Video, o.Count = video, count
		if m.progress != nil {
			o.Progress = func(done, total int) {
				fmt.Fprintf(m.progress, "  %5.1f%%  synthesising %s MEIs for %d targets: generation %d/%d\n",
					100*float64(done)/float64(total), name, len(targets), done, total)
			}
		}
		if video {
			o.Frames = steps(s.VideoDuration, info.FrameRateHz)
		}
		found, err := mei.Synthesise(ctx, ev, synth, o)
		if err != nil {
			return fmt.Errorf("synthesising %s MEIs: %w", name, err)
		}
		for i, meis := range found {
			for k, x := range meis {
				label := name
				if k > 0 {
					label = fmt.Sprintf("%s-%d", name, k+1)
				}
				targets[i].MEIs = append(targets[i].MEIs, session.Choice{Name: label, Sequence: x.Sequence, Predicted: x.Response, Frames: x.Frames})
			}
		}
		return nil
	}
	if err := add(false, s.Images, "mei"); err != nil {
		return err
	}
	if err := add(true, s.Videos, "mei-video"); err != nil {
		return err
	}
	m.log.Info("most exciting inputs synthesised", "targets", len(targets), "took", time.Since(started))
	return nil
}

// phases spreads n carrier phases evenly over 360 degrees (nil: the
// pool's default).
func phases(n int) []float64 {
	if n <= 0 {
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = 360 * float64(i) / float64(n)
	}
	return out
}
