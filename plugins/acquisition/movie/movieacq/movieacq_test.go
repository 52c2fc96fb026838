package movieacq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/internal/synth"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/movieacq"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/stream"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/tiff"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/traces"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
)

// recording writes a ScanImage-like BigTIFF movie of n frames at rate Hz
// (frame timestamps starting at 12.5 s) whose soma 0 flashes on frames
// that are multiples of 10, and a mask file with one ROI per soma. It
// returns the settings that replay it.
func recording(t testing.TB, n int, rate float64) json.RawMessage {
	t.Helper()
	const w, h, somas = 64, 48, 3
	dir := t.TempDir()
	f := synth.NewField(w, h, somas, 7)
	rng := rand.New(rand.NewPCG(7, 1))
	movie := filepath.Join(dir, "movie.tif")
	out, err := os.Create(movie)
	require.NoError(t, err)
	wr, err := tiff.NewWriter(out, tiff.WriterOptions{BigTIFF: true})
	require.NoError(t, err)
	mean := make([]float64, w*h)
	pix := make([]uint16, w*h)
	for i := range n {
		gains := []float64{1, 1, 1}
		if i%10 == 0 {
			gains[0] = 3
		}
		f.Render(mean, 0, 0, gains)
		synth.Noisy(pix, mean, rng)
		require.NoError(t, wr.WritePage(tiff.WritePage{
			Width: w, Height: h, BitsPerSample: 16, Pix: pix,
			Description: fmt.Sprintf("frameNumbers = %d\nframeTimestamps_sec = %.6f\n", i+1, 12.5+float64(i)/rate),
		}))
	}
	require.NoError(t, wr.Close())
	require.NoError(t, out.Close())

	masks := &traces.Masks{Width: w, Height: h}
	for s, b := range f.Somas {
		var roi traces.ROI
		roi.ID = fmt.Sprintf("roi-%d", s)
		for y := range h {
			for x := range w {
				if math.Hypot(float64(y)-b.Y, float64(x)-b.X) <= 1.5*b.Sigma {
					roi.Pix = append(roi.Pix, int32(y*w+x))
					roi.Weights = append(roi.Weights, 1)
				}
			}
		}
		masks.ROIs = append(masks.ROIs, roi)
	}
	data, err := masks.MarshalJSON()
	require.NoError(t, err)
	maskPath := filepath.Join(dir, "masks.json")
	require.NoError(t, os.WriteFile(maskPath, data, 0o644))
	settings, err := json.Marshal(map[string]any{"path": movie, "masks": maskPath, "rate_hz": rate, "motion_correction": false})
	require.NoError(t, err)
	return settings
}

func TestConformance(t *testing.T) {
	rigtest.Acquisition(t, movieacq.New(nil), rigtest.WithSettings(recording(t, 60, 30)))
}

func TestReplayProcessesTheMovieAtItsFrameTimes(t *testing.T) {
	ctx := context.Background()
	a := movieacq.New(nil)
	_, err := a.Configure(ctx, rig.ConfigureRequest{Settings: recording(t, 90, 30)})
	require.NoError(t, err)
	info, err := a.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{"roi-0", "roi-1", "roi-2"}, info.NeuronIDs)
	require.True(t, info.Offline)
	require.Equal(t, 30.0, info.ImagingRateHz)

	_, err = a.Start(ctx, rig.StartRequest{Clock: rig.VirtualClock})
	require.NoError(t, err)
	var scans []rig.Scan
	for _, until := range []time.Duration{time.Second, 2 * time.Second, 10 * time.Second} {
		resp, err := a.Read(ctx, rig.ReadRequest{Until: until})
		require.NoError(t, err)
		for _, s := range resp.Scans {
			require.LessOrEqual(t, s.Time, until)
		}
		scans = append(scans, resp.Scans...)
	}
	require.Len(t, scans, 90, "every frame once, however the reads are split")
	for i, s := range scans {
		require.Equal(t, int64(i), s.Index)
		require.InDelta(t, float64(i)/30, s.Time.Seconds(), 1e-6, "scan %d at its ScanImage time, from the first frame", i)
		require.InDelta(t, 12.5+float64(i)/30, s.SourceTime.Seconds(), 1e-6, "scan %d keeps its ScanImage timestamp", i)
		require.False(t, s.HostTime.IsZero(), "scan %d carries the host time", i)
		require.True(t, math.IsNaN(float64(s.Behaviour.Treadmill)), "a movie has no behaviour")
	}
	// ROI 0 flashes every 10th frame: its dF/F is higher then than between.
	var on, off float64
	for i, s := range scans[30:] {
		if (i+30)%10 == 0 {
			on += float64(s.Values[0]) / 6
		} else {
			off += float64(s.Values[0]) / 54
		}
	}
	require.Greater(t, on, off+0.2, "dF/F of the flashing ROI: %.2f on, %.2f off", on, off)

	// A new session replays from the start.
	_, err = a.Start(ctx, rig.StartRequest{Clock: rig.VirtualClock})
	require.NoError(t, err)
	resp, err := a.Read(ctx, rig.ReadRequest{Until: 0})
	require.NoError(t, err)
	require.Len(t, resp.Scans, 1)
	require.Equal(t, int64(0), resp.Scans[0].Index)
}

func TestBadSettingsAndFiles(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.tif")
	require.NoError(t, os.WriteFile(corrupt, []byte("II*\x00\xff\xff\xff\x7f"), 0o644))
	good := recording(t, 3, 30)
	var s map[string]any
	require.NoError(t, json.Unmarshal(good, &s))
	otherMasks := filepath.Join(dir, "other.json")
	m := &traces.Masks{Width: 10, Height: 10, ROIs: []traces.ROI{{ID: "a", Pix: []int32{0}, Weights: []float32{1}}}}
	data, err := m.MarshalJSON()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(otherMasks, data, 0o644))

	for _, tc := range []struct {
		settings string
		want     []string
	}{
		{`{}`, []string{`field "path": missing`, `field "masks": missing`, `field "rate_hz": 0`}},
		{`{"path": "x", "masks": "y", "rate_hz": 30, "speed": 2}`, []string{`unknown field "speed"`}},
		{fmt.Sprintf(`{"path": %q, "masks": %q, "rate_hz": 30}`, corrupt, s["masks"]), []string{"corrupt.tif"}},
		{fmt.Sprintf(`{"path": %q, "masks": %q, "rate_hz": 30}`, filepath.Join(dir, "none.tif"), s["masks"]), []string{"none.tif"}},
		{fmt.Sprintf(`{"path": %q, "masks": %q, "rate_hz": 30}`, s["path"], otherMasks), []string{"other.json are for 10x10 frames", "is 64x48"}},
	} {
		_, err := movieacq.New(nil).Configure(context.Background(), rig.ConfigureRequest{Settings: json.RawMessage(tc.settings)})
		require.Error(t, err, tc.settings)
		for _, w := range tc.want {
			require.ErrorContains(t, err, w)
		}
	}
}

// freeAddr returns a loopback TCP address that was free a moment ago.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestLiveStream(t *testing.T) {
	ctx := context.Background()
	rec := recording(t, 45, 30)
	var s map[string]any
	require.NoError(t, json.Unmarshal(rec, &s))
	addr := freeAddr(t)
	live, err := json.Marshal(map[string]any{"listen": "tcp://" + addr, "masks": s["masks"], "rate_hz": 30, "motion_correction": false})
	require.NoError(t, err)

	a := movieacq.New(nil)
	_, err = a.Configure(ctx, rig.ConfigureRequest{Settings: live})
	require.NoError(t, err)
	info, err := a.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.False(t, info.Offline, "a live stream cannot run on the virtual clock")
	_, err = a.Start(ctx, rig.StartRequest{Clock: rig.VirtualClock})
	require.ErrorIs(t, err, rig.ErrInvalid)

	epoch := time.Now()
	_, err = a.Start(ctx, rig.StartRequest{Clock: rig.RealClock, Epoch: epoch})
	require.NoError(t, err)
	defer a.Stop(ctx, rig.StopRequest{})
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	sent := make(chan error, 1)
	go func() { sent <- stream.SendTIFF(ctx, conn, s["path"].(string), stream.SendOptions{Rate: 300}) }()
	require.NoError(t, <-sent)
	require.NoError(t, conn.Close())

	var scans []rig.Scan
	require.Eventually(t, func() bool {
		resp, err := a.Read(ctx, rig.ReadRequest{Until: time.Since(epoch) + time.Second})
		require.NoError(t, err)
		scans = append(scans, resp.Scans...)
		return len(scans) == 45
	}, 10*time.Second, 10*time.Millisecond, "every streamed frame becomes a scan")
	for i, sc := range scans {
		require.Equal(t, int64(i), sc.Index)
		require.Len(t, sc.Values, 3)
		require.InDelta(t, 12.5+float64(i)/30, sc.SourceTime.Seconds(), 1e-6, "the microscope's own timestamp")
		require.False(t, sc.HostTime.Before(epoch), "arrival on the host clock")
		if i > 0 {
			require.InDelta(t, 1.0/30, (sc.Time - scans[i-1].Time).Seconds(), 1e-6, "scans keep the microscope's frame times")
		}
	}
}
