package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/tiff"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/traces"
)

// TestMovieSourceEndToEnd runs a session whose acquisition replays a
// recorded movie (a small BigTIFF written here, with ScanImage timestamps)
// through the online pipeline, on the virtual clock.
func TestMovieSourceEndToEnd(t *testing.T) {
	dir := t.TempDir()
	const w, h, n, rate = 40, 30, 120, 30.0
	f, err := os.Create(filepath.Join(dir, "movie.tif"))
	require.NoError(t, err)
	wr, err := tiff.NewWriter(f, tiff.WriterOptions{BigTIFF: true})
	require.NoError(t, err)
	pix := make([]uint16, w*h)
	for i := range n {
		for p := range pix {
			pix[p] = uint16(100 + (p*7+i*13)%17) // a faint texture
		}
		for y := 5; y < 11; y++ { // ROI a: a square that flashes every 15 frames
			for x := 5; x < 11; x++ {
				if i%15 == 0 {
					pix[y*w+x] += 400
				} else {
					pix[y*w+x] += 100
				}
			}
		}
		require.NoError(t, wr.WritePage(tiff.WritePage{Width: w, Height: h, BitsPerSample: 16, Pix: pix,
			Description: fmt.Sprintf("frameTimestamps_sec = %.6f\n", 100+float64(i)/rate)}))
	}
	require.NoError(t, wr.Close())
	require.NoError(t, f.Close())
	masks := &traces.Masks{Width: w, Height: h}
	for id, x0 := range map[string]int{"a": 5, "b": 25} {
		roi := traces.ROI{ID: id}
		for y := 5; y < 11; y++ {
			for x := x0; x < x0+6; x++ {
				roi.Pix = append(roi.Pix, int32(y*w+x))
				roi.Weights = append(roi.Weights, 1)
			}
		}
		masks.ROIs = append(masks.ROIs, roi)
	}
	data, err := masks.MarshalJSON()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "masks.json"), data, 0o644))
	acq, err := json.Marshal(map[string]any{"source": "movie", "path": filepath.Join(dir, "movie.tif"),
		"masks": filepath.Join(dir, "masks.json"), "rate_hz": rate})
	require.NoError(t, err)

	cfg := rigConfig{neurons: 2, acqJSON: string(acq), blocks: `
  - name: clip
    duration: 3s
    stimulus: {family: natural, seed: 2}
`}.write(t, dir)
	code, out := runHost(t, "run", "-quiet", cfg)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `vs 2 neurons of "movie:movie.tif"`)
	require.Contains(t, out, "90 scans", "3 s of a 30 Hz movie")
	scans, err := filepath.Glob(filepath.Join(dir, "runs", "e2e-*", "scans.csv"))
	require.NoError(t, err)
	require.Len(t, scans, 1)
	rows, err := os.ReadFile(scans[0])
	require.NoError(t, err)
	require.Equal(t, 91, strings.Count(string(rows), "\n"), "90 scans and a header")
}
