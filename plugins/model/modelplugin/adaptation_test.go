package modelplugin_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/twinrig/twinrig/plugins/model/adapt"
	"github.com/twinrig/twinrig/plugins/model/defaultmodel"
	"github.com/twinrig/twinrig/plugins/model/modelplugin"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

// blocky returns n frames of random gray blocks (the default model's 8x8
// pooling sees every block), seeded.
func blocky(n int, seed uint64) []rig.Frame {
	rng := rand.New(rand.NewPCG(seed, 1))
	frames := make([]rig.Frame, n)
	for i := range frames {
		px := make([]byte, 256*144)
		for by := range 18 {
			for bx := range 32 {
				v := byte(rng.IntN(256))
				for y := by * 8; y < by*8+8; y++ {
					for x := bx * 8; x < bx*8+8; x++ {
						px[y*256+x] = v
					}
				}
			}
		}
		frames[i] = rig.Frame{Width: 256, Height: 144, Pixels: px}
	}
	return frames
}

// TestAdaptFitsAPlantedReadout: neurons whose responses are a known readout
// of the default model's pooled, indicator-filtered features are recovered
// by Adapt, and the adapted plugin predicts them on new frames.
func TestAdaptFitsAPlantedReadout(t *testing.T) {
	const train, test, neurons = 450, 150, 4
	const decay = 200 * time.Millisecond
	frames := blocky(train+test, 3)

	// The truth: an independent runner's features for the same frames,
	// pooled 2 x 4 (as the plugin pools 8 x 18 x 32), filtered like the
	// indicator, read out by a random W and b.
	model, err := defaultmodel.Build(defaultmodel.Options{Neurons: 5})
	require.NoError(t, err)
	r, err := onnxmodel.New(model, onnxmodel.Options{Threads: 1})
	require.NoError(t, err)
	defer r.Close()
	feats := mat.NewDense(len(frames), defaultmodel.StateSize, nil)
	out := make([]float32, 5)
	for i, f := range frames {
		require.NoError(t, r.Step(f.Pixels, rig.Behaviour{}, out))
		for j, v := range r.Features() {
			feats.Set(i, j, float64(v))
		}
	}
	pooled, err := adapt.Pool(feats, adapt.MapShape{Channels: defaultmodel.Filters, Height: defaultmodel.MapHeight, Width: defaultmodel.MapWidth}, 2, 4)
	require.NoError(t, err)
	gamma := math.Exp(-1 / (30 * decay.Seconds()))
	_, nf := pooled.Dims()
	x := make([]float64, nf)
	// Like the foundation model's readout, each neuron reads every channel
	// at one position of the (pooled 8 x 9 x 8) map.
	rng := rand.New(rand.NewPCG(9, 9))
	w := mat.NewDense(nf, neurons, nil)
	const positions = 9 * 8
	for j := range neurons {
		pos := rng.IntN(positions)
		for c := range defaultmodel.Filters {
			w.Set(c*positions+pos, j, rng.NormFloat64())
		}
	}
	zs := make([][]float64, neurons)
	for i := range frames {
		for k := range nf {
			x[k] = gamma*x[k] + (1-gamma)*pooled.At(i, k)
		}
		for j := range neurons {
			z := 0.0
			for k := range nf {
				z += x[k] * w.At(k, j)
			}
			zs[j] = append(zs[j], z)
		}
	}
	// A linear readout of the features with a log-rate s.d. of 0.5 around
	// a mean rate of 1: responses like a neuron's, not a heavy tail.
	truth := make([][]float64, len(frames))
	for i := range truth {
		truth[i] = make([]float64, neurons)
	}
	for j, z := range zs {
		mean, sd := stat.MeanStdDev(z, nil)
		for i, v := range z {
			truth[i][j] = math.Exp(0.5 * (v - mean) / sd)
		}
	}

	p := modelplugin.New()
	defer p.Close()
	_, err = p.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neurons": 5, "threads": 1}`)})
	require.NoError(t, err)
	_, err = p.Reset(ctx, rig.ResetRequest{})
	require.NoError(t, err)
	_, err = p.Predict(ctx, rig.PredictRequest{Frames: frames[:train]})
	require.NoError(t, err)

	saved := filepath.Join(t.TempDir(), "readout.json")
	req := rig.AdaptRequest{NeuronIDs: []string{"a", "b", "c", "d"}, IndicatorDecay: decay, SavePath: saved}
	for i := 10; i < train; i++ {
		req.Steps = append(req.Steps, int64(i))
		row := make([]float32, neurons)
		for j := range row {
			row[j] = float32(truth[i][j])
		}
		req.Responses = append(req.Responses, row)
	}
	resp, err := p.Adapt(ctx, req)
	require.NoError(t, err)
	require.Equal(t, neurons, resp.Neurons)
	require.Equal(t, train-10, resp.Samples)
	for j, cv := range resp.CVScore {
		require.Greater(t, cv, 0.8, "cross-validated r of neuron %d", j)
	}
	info, err := p.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, neurons, info.Neurons, "the adapted model predicts the recorded neurons")
	require.Equal(t, req.NeuronIDs, info.NeuronIDs)

	// New frames, continuing the same run: the adapted readout predicts
	// the planted neurons.
	pred, err := p.Predict(ctx, rig.PredictRequest{Frames: frames[train:]})
	require.NoError(t, err)
	for j := range neurons {
		a, b := make([]float64, test), make([]float64, test)
		for i := range test {
			a[i] = float64(pred.Responses[i][j])
			b[i] = truth[train+i][j]
		}
		require.Greater(t, stat.Correlation(a, b, nil), 0.9, "held-out correlation of neuron %d", j)
	}

	// The saved readout serves a later session on the same model: the same
	// predictions from the start.
	q := modelplugin.New()
	defer q.Close()
	_, err = q.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(fmt.Sprintf(`{"neurons": 5, "threads": 1, "readout": %q}`, saved))})
	require.NoError(t, err)
	info, err = q.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, req.NeuronIDs, info.NeuronIDs)
	_, err = q.Predict(ctx, rig.PredictRequest{Frames: frames[:train]})
	require.NoError(t, err)
	again, err := q.Predict(ctx, rig.PredictRequest{Frames: frames[train:]})
	require.NoError(t, err)
	require.Equal(t, pred.Responses, again.Responses)

	// A readout fitted for another model (other readout weights: another
	// hash) is refused.
	_, err = q.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(fmt.Sprintf(`{"neurons": 5, "seed": 2, "readout": %q}`, saved))})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "a readout for another model")
	require.ErrorContains(t, err, "readout.json")
}

func TestAdaptRejectsBadRequests(t *testing.T) {
	p := modelplugin.New()
	defer p.Close()
	_, err := p.Adapt(ctx, rig.AdaptRequest{})
	require.ErrorIs(t, err, rig.ErrState, "before Configure")
	_, err = p.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neurons": 2}`)})
	require.NoError(t, err)
	_, err = p.Predict(ctx, rig.PredictRequest{Frames: blocky(20, 1)})
	require.NoError(t, err)
	rows := func(n, width int) [][]float32 {
		out := make([][]float32, n)
		for i := range out {
			out[i] = make([]float32, width)
		}
		return out
	}
	steps := func(from, n int) []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = int64(from + i)
		}
		return s
	}
	for _, tc := range []struct {
		req  rig.AdaptRequest
		want string
	}{
		{rig.AdaptRequest{Steps: steps(0, 5), Responses: rows(5, 2)}, "at least 10"},
		{rig.AdaptRequest{Steps: steps(0, 12), Responses: rows(11, 2)}, "12 steps and 11 responses"},
		{rig.AdaptRequest{Steps: steps(15, 12), Responses: rows(12, 2)}, "step 20, expected one of the 20 steps predicted since the last reset"},
		{rig.AdaptRequest{Steps: steps(0, 12), Responses: rows(12, 2), NeuronIDs: []string{"a"}}, "1 neuron ids for responses of 2 values"},
	} {
		_, err := p.Adapt(ctx, tc.req)
		require.ErrorIs(t, err, rig.ErrInvalid)
		require.ErrorContains(t, err, tc.want)
	}
}
