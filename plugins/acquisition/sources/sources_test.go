package sources_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/tiff"
	"github.com/twinrig/twinrig/plugins/acquisition/simacq"
	"github.com/twinrig/twinrig/plugins/acquisition/sources"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
)

func TestConformanceDefaultsToTheSimulatedMouse(t *testing.T) {
	rigtest.Acquisition(t, sources.New(nil), rigtest.WithSettings(json.RawMessage(`{"neurons": 5}`)))
}

func TestSourceSetting(t *testing.T) {
	ctx := context.Background()
	s := sources.New(nil)
	_, err := s.Describe(ctx, rig.DescribeRequest{})
	require.ErrorIs(t, err, rig.ErrState, "before Configure")

	_, err = s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"source": "sim", "neurons": 7}`)})
	require.NoError(t, err)
	info, err := s.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, 7, info.Neurons)
	require.True(t, info.Simulated)

	_, err = s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"source": "camera"}`)})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, `field "source": "camera", want one of sim, movie`)

	_, err = s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"source": "movie"}`)})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, `field "path": missing`, "the movie source checks its own settings")
	info, err = s.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, 7, info.Neurons, "a failed Configure keeps the previous source")

	_, err = s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`[1]`)})
	require.ErrorIs(t, err, rig.ErrInvalid)
}

// tinyMovie writes a 4-frame 8 x 8 movie with one ROI and returns the
// movie source's settings for it.
func tinyMovie(t *testing.T) json.RawMessage {
	t.Helper()
	dir := t.TempDir()
	movie := filepath.Join(dir, "movie.tif")
	out, err := os.Create(movie)
	require.NoError(t, err)
	w, err := tiff.NewWriter(out, tiff.WriterOptions{})
	require.NoError(t, err)
	pix := make([]uint16, 64)
	for i := range 4 {
		for j := range pix {
			pix[j] = uint16(100 + 10*i + j)
		}
		require.NoError(t, w.WritePage(tiff.WritePage{Width: 8, Height: 8, BitsPerSample: 16, Pix: pix}))
	}
	require.NoError(t, w.Close())
	require.NoError(t, out.Close())
	masks := filepath.Join(dir, "masks.json")
	require.NoError(t, os.WriteFile(masks, []byte(`{"width": 8, "height": 8, "rois": [{"id": "a", "ypix": [3, 3, 4], "xpix": [3, 4, 3], "lam": [1, 1, 1]}]}`), 0o644))
	settings, err := json.Marshal(map[string]any{"source": "movie", "path": movie, "masks": masks, "rate_hz": 30, "motion_correction": false})
	require.NoError(t, err)
	return settings
}

// TestOptimalStimuliGoToTheSimulatedMouse checks that the Switch forwards
// OptimalStimuli to the simulated mouse and that the movie, which has no
// ground truth, answers rig.ErrUnsupported, over the wire too.
func TestOptimalStimuliGoToTheSimulatedMouse(t *testing.T) {
	ctx := context.Background()
	req := rig.OptimalStimuliRequest{Neurons: []int{4, 1}, Width: 32, Height: 18, Frames: 2, FrameRateHz: 30}
	s := sources.New(nil)
	_, err := s.OptimalStimuli(ctx, req)
	require.ErrorIs(t, err, rig.ErrState, "before Configure")

	_, err = s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neurons": 5, "seed": 3}`)})
	require.NoError(t, err)
	got, err := s.OptimalStimuli(ctx, req)
	require.NoError(t, err)
	direct := simacq.New()
	_, err = direct.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neurons": 5, "seed": 3}`)})
	require.NoError(t, err)
	want, err := direct.OptimalStimuli(ctx, req)
	require.NoError(t, err)
	require.Equal(t, want, got)

	_, err = s.Configure(ctx, rig.ConfigureRequest{Settings: tinyMovie(t)})
	require.NoError(t, err)
	info, err := s.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.False(t, info.Simulated)
	_, err = s.OptimalStimuli(ctx, rig.OptimalStimuliRequest{Neurons: []int{0}, Width: 8, Height: 8, Frames: 1, FrameRateHz: 30})
	require.ErrorIs(t, err, rig.ErrUnsupported)
	require.ErrorContains(t, err, `the "movie" source does not know its neurons' optimal stimuli`)

	c, closeFn, err := rig.LoopbackAcquisition(s)
	require.NoError(t, err)
	defer closeFn()
	_, err = c.(rig.TruthTeller).OptimalStimuli(ctx, rig.OptimalStimuliRequest{Neurons: []int{0}, Width: 8, Height: 8, Frames: 1, FrameRateHz: 30})
	require.ErrorIs(t, err, rig.ErrUnsupported, "over the wire")
}
