package movie

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/internal/synth"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/motion"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/tiff"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/traces"
	"github.com/twinrig/twinrig/rig"
)

// dataset is a simulated recording with its ground truth.
type dataset struct {
	w, h    int
	frames  [][]uint16
	shifts  [][2]float64
	spikes  [][]float64 // per soma, per frame
	calcium [][]float64
	masks   *traces.Masks
	gamma   float64
}

// simulate renders n frames of w x h: somas whose brightness is 1 + 0.6 *
// AR(1) calcium, sub-pixel shifts within maxShift (independent each frame,
// or with walk a random walk of 0.3 px s.d. steps: slow motion), shot
// noise. The
// masks are disks of radius 1.5 s.d. around the somas (as a mask file
// would hold them, round-tripped through the JSON format).
func simulate(t testing.TB, w, h, nSomas, n int, maxShift float64, walk bool, seed uint64) *dataset {
	f := synth.NewField(w, h, nSomas, seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	d := &dataset{w: w, h: h, gamma: 0.95}
	for range f.Somas {
		c, s := synth.Calcium(n, d.gamma, 0.03, rng)
		d.calcium, d.spikes = append(d.calcium, c), append(d.spikes, s)
	}
	mean := make([]float64, w*h)
	gains := make([]float64, len(f.Somas))
	for i := range n {
		var s [2]float64
		switch {
		case i == 0:
		case walk:
			prev := d.shifts[i-1]
			for k := range s {
				s[k] = math.Max(-maxShift, math.Min(maxShift, prev[k]+0.3*rng.NormFloat64()))
			}
		default:
			s = [2]float64{(2*rng.Float64() - 1) * maxShift, (2*rng.Float64() - 1) * maxShift}
		}
		for j := range gains {
			gains[j] = 1 + 0.6*d.calcium[j][i]
		}
		f.Render(mean, s[0], s[1], gains)
		fr := make([]uint16, w*h)
		synth.Noisy(fr, mean, rng)
		d.frames, d.shifts = append(d.frames, fr), append(d.shifts, s)
	}
	type roi struct {
		ID   string `json:"id"`
		YPix []int  `json:"ypix"`
		XPix []int  `json:"xpix"`
	}
	var rois []roi
	for i, s := range f.Somas {
		r := roi{ID: fmt.Sprintf("soma%d", i)}
		rad := 1.5 * s.Sigma
		for y := int(s.Y - rad); y <= int(s.Y+rad)+1; y++ {
			for x := int(s.X - rad); x <= int(s.X+rad)+1; x++ {
				if dy, dx := float64(y)-s.Y, float64(x)-s.X; dy*dy+dx*dx <= rad*rad && y >= 0 && y < h && x >= 0 && x < w {
					r.YPix, r.XPix = append(r.YPix, y), append(r.XPix, x)
				}
			}
		}
		rois = append(rois, r)
	}
	b, err := json.Marshal(map[string]any{"width": w, "height": h, "rois": rois})
	require.NoError(t, err)
	d.masks, err = traces.ParseMasks(b, "sim.json")
	require.NoError(t, err)
	return d
}

func pearson(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma, mb = ma+a[i], mb+b[i]
	}
	ma, mb = ma/float64(len(a)), mb/float64(len(b))
	var ab, aa, bb float64
	for i := range a {
		ab += (a[i] - ma) * (b[i] - mb)
		aa += (a[i] - ma) * (a[i] - ma)
		bb += (b[i] - mb) * (b[i] - mb)
	}
	return ab / math.Sqrt(aa*bb)
}

// TestReplayTIFF writes a simulated movie as a ScanImage-like BigTIFF
// (signed 16-bit, per-frame timestamps), replays it through the pipeline
// and checks the outputs against the ground truth.
func TestReplayTIFF(t *testing.T) {
	const n = 300
	d := simulate(t, 96, 96, 20, n, 3, false, 1)
	path := filepath.Join(t.TempDir(), "movie.tif")
	f, err := os.Create(path)
	require.NoError(t, err)
	tw, err := tiff.NewWriter(f, tiff.WriterOptions{BigTIFF: true, ByteOrder: binary.BigEndian})
	require.NoError(t, err)
	stamp := func(i int) float64 { return 1.5 + float64(i)/30.0 }
	for i, fr := range d.frames {
		require.NoError(t, tw.WritePage(tiff.WritePage{Width: d.w, Height: d.h, BitsPerSample: 16, Signed: true, Pix: fr,
			Description: fmt.Sprintf("frameNumbers = %d\nframeTimestamps_sec = %.6f\n", i+1, stamp(i))}))
	}
	require.NoError(t, tw.Close())
	require.NoError(t, f.Close())

	src, err := OpenTIFF(path, 30)
	require.NoError(t, err)
	defer src.Close()
	p, err := New(Config{Width: d.w, Height: d.h, Masks: d.masks, Rate: 30, Gamma: d.gamma,
		BaselineWindow: 10 * time.Second, MinSpike: 0.1, Lag: 5, Motion: motionConfig()})
	require.NoError(t, err)
	nroi := len(d.masks.ROIs)
	dff := make([][]float64, nroi)
	act := make([][]float64, nroi)
	for i := range act {
		dff[i], act[i] = make([]float64, n), make([]float64, n)
	}
	var se float64
	var count int
	err = Replay(context.Background(), src, p, ReplayOptions{}, func(s Sample) error {
		i := int(s.Seq)
		require.Equal(t, uint64(count), s.Seq)
		require.InDelta(t, stamp(i), s.SourceTime.Seconds(), 1e-6)
		require.False(t, s.HostTime.IsZero())
		ey, ex := s.Shift.Y-d.shifts[i][0], s.Shift.X-d.shifts[i][1]
		se += ey*ey + ex*ex
		for r := range nroi {
			dff[r][i] = float64(s.DFF[r])
		}
		require.Equal(t, i >= 5, s.ActivityValid)
		if s.ActivityValid {
			require.Equal(t, s.Seq-5, s.ActivitySeq)
			for r := range nroi {
				act[r][s.ActivitySeq] = float64(s.Activity[r])
			}
		}
		count++
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, n, count)
	rms := math.Sqrt(se / float64(2*n))
	t.Logf("shift rms error %.3f px", rms)
	require.Less(t, rms, 0.1)

	// dF/F follows each soma's calcium and the activity its spikes (after
	// the first 60 frames, once the baseline has some history).
	var cd, ca float64
	for r := range nroi {
		cd += pearson(dff[r][60:n-5], d.calcium[r][60:n-5])
		ca += pearson(act[r][60:n-5], d.spikes[r][60:n-5])
	}
	cd, ca = cd/float64(nroi), ca/float64(nroi)
	t.Logf("mean correlation: dF/F vs calcium %.3f, activity vs spikes %.3f", cd, ca)
	require.Greater(t, cd, 0.9)
	require.Greater(t, ca, 0.85)
}

// motionConfig is the tests' motion setting: a short initial template and
// a window as large as the 96x96 frames.
func motionConfig() motion.Config { return motion.Config{InitFrames: 5, Window: 96} }

// TestReplayPacing checks, on the fake clock of testing/synctest, that
// frames are processed when due: host times follow source times at the
// chosen speed.
func TestReplayPacing(t *testing.T) {
	d := simulate(t, 32, 32, 3, 10, 0, false, 2)
	for _, speed := range []float64{1, 2} {
		synctest.Test(t, func(t *testing.T) {
			src := &memSource{d: d, period: 33 * time.Millisecond}
			p, err := New(Config{Width: 32, Height: 32, Masks: d.masks, Rate: 30, DisableMotion: true})
			require.NoError(t, err)
			var first time.Time
			var got []time.Duration
			err = Replay(t.Context(), src, p, ReplayOptions{Speed: speed}, func(s Sample) error {
				if s.Seq == 0 {
					first = s.HostTime
				}
				got = append(got, s.HostTime.Sub(first))
				return nil
			})
			require.NoError(t, err)
			require.Len(t, got, 10)
			for i, g := range got {
				require.Equal(t, time.Duration(float64(time.Duration(i)*33*time.Millisecond)/speed), g, "speed %v frame %d", speed, i)
			}
		})
	}
	// Cancellation stops a paced replay.
	synctest.Test(t, func(t *testing.T) {
		src := &memSource{d: d, period: time.Second}
		p, err := New(Config{Width: 32, Height: 32, Masks: d.masks, Rate: 30, DisableMotion: true})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
		defer cancel()
		var frames int
		err = Replay(ctx, src, p, ReplayOptions{Speed: 1}, func(Sample) error { frames++; return nil })
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, 3, frames)
	})
}

// memSource replays a dataset's frames with a fixed period.
type memSource struct {
	d      *dataset
	i      int
	period time.Duration
}

func (m *memSource) Size() (int, int) { return m.d.w, m.d.h }
func (m *memSource) Next(dst []uint16) ([]uint16, time.Duration, error) {
	if m.i >= len(m.d.frames) {
		return nil, 0, io.EOF
	}
	dst = append(dst[:0], m.d.frames[m.i]...)
	ts := time.Duration(m.i) * m.period
	m.i++
	return dst, ts, nil
}

func TestProcessAllocationFree(t *testing.T) {
	d := simulate(t, 64, 64, 8, 30, 2, false, 3)
	p, err := New(Config{Width: 64, Height: 64, Masks: d.masks, Rate: 30, Lag: 3})
	require.NoError(t, err)
	for _, fr := range d.frames[:25] {
		_, err := p.Process(fr, 0)
		require.NoError(t, err)
	}
	i := 25
	allocs := testing.AllocsPerRun(5, func() {
		_, err := p.Process(d.frames[i%len(d.frames)], 0)
		if err != nil {
			t.Fatal(err)
		}
		i++
	})
	require.Zero(t, allocs)
}

func TestConfigErrors(t *testing.T) {
	d := simulate(t, 32, 32, 3, 1, 0, false, 4)
	_, err := New(Config{Width: 0, Height: 32, Rate: -1})
	require.ErrorIs(t, err, rig.ErrInvalid)
	for _, m := range []string{"frame size 0x32", "no Masks", "Rate -1"} {
		require.Contains(t, err.Error(), m)
	}
	_, err = New(Config{Width: 33, Height: 32, Masks: d.masks, Rate: 30})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "masks are for 32x32 frames")
	_, err = New(Config{Width: 32, Height: 32, Masks: d.masks, Rate: 30, Lag: -2})
	require.ErrorIs(t, err, rig.ErrInvalid)
	p, err := New(Config{Width: 32, Height: 32, Masks: d.masks, Rate: 30})
	require.NoError(t, err)
	require.InDelta(t, math.Exp(-1/(1.25*30)), p.Config().Gamma, 1e-12)
	require.InDelta(t, 0.7, p.Config().NeuropilCoef, 0)
	require.Equal(t, []string{"soma0", "soma1", "soma2"}, p.ROIs())
	_, err = p.Process(make([]uint16, 10), 0)
	require.ErrorIs(t, err, rig.ErrInvalid)
	s, err := p.Process(d.frames[0], time.Second)
	require.NoError(t, err)
	require.Equal(t, uint64(0), s.Seq)
	c := s.Clone()
	s2, err := p.Process(d.frames[0], 2*time.Second)
	require.NoError(t, err)
	require.Equal(t, uint64(1), s2.Seq)
	require.Equal(t, time.Second, c.SourceTime)
	require.Len(t, c.DFF, 3)
}

func TestTIFFSource(t *testing.T) {
	var buf bytes.Buffer
	tw, err := tiff.NewWriter(&buf, tiff.WriterOptions{})
	require.NoError(t, err)
	neg := uint16(0xfff6) // int16 -10
	require.NoError(t, tw.WritePage(tiff.WritePage{Width: 2, Height: 1, BitsPerSample: 16, Signed: true, Pix: []uint16{neg, 7}}))
	require.NoError(t, tw.WritePage(tiff.WritePage{Width: 2, Height: 1, BitsPerSample: 16, Signed: true, Pix: []uint16{3, neg}}))
	require.NoError(t, tw.WritePage(tiff.WritePage{Width: 1, Height: 1, BitsPerSample: 16, Pix: []uint16{1}}))
	require.NoError(t, tw.Close())
	src, err := NewTIFFSource(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "neg.tif", 4)
	require.NoError(t, err)
	w, h := src.Size()
	require.Equal(t, [2]int{2, 1}, [2]int{w, h})
	fr, ts, err := src.Next(nil)
	require.NoError(t, err)
	require.Equal(t, []uint16{0, 7}, fr)
	require.Equal(t, time.Duration(0), ts)
	fr, ts, err = src.Next(fr)
	require.NoError(t, err)
	require.Equal(t, []uint16{3, 0}, fr)
	require.Equal(t, 250*time.Millisecond, ts) // page 1 at 4 frames/s
	_, _, err = src.Next(fr)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "neg.tif: page 2 is 1x1")
	_, _, err = src.Next(fr)
	require.True(t, errors.Is(err, io.EOF))
	_, err = NewTIFFSource(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "neg.tif", 0)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.NoError(t, src.Close())
}
