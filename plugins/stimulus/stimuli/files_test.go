package stimuli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// TestImagesOnOff checks that each image shows for on_frames, then a blank
// for off_frames, in list order, repeating.
func TestImagesOnOff(t *testing.T) {
	const w, h, on, off = 64, 36, 3, 2
	paths := []string{"testdata/images/gradient.png", "testdata/images/checker.jpg", "testdata/images/colour.png"}
	spec, _ := json.Marshal(map[string]any{"family": "images", "paths": paths, "on_frames": on, "off_frames": off})
	seq, err := New(spec, w, h, 60)
	require.NoError(t, err)
	var want [][]byte
	for _, p := range paths {
		f, err := loadPicture(p, w, h, fitCover)
		require.NoError(t, err)
		want = append(want, f)
	}
	blank := make([]byte, w*h)
	for i := range blank {
		blank[i] = 128
	}
	buf := make([]byte, w*h)
	for i := -5; i < 40; i++ {
		seq.Render(i, buf)
		k, t0 := floorDiv(i, on+off)
		if t0 < on {
			require.Equal(t, want[mod(k, len(paths))], buf, "frame %d shows image %d", i, mod(k, len(paths)))
			require.NotEqual(t, blank, buf)
		} else {
			require.Equal(t, blank, buf, "frame %d is blank", i)
		}
	}
}

// TestImagesContent checks the resampled pixels against the fixtures'
// generators for each fit.
func TestImagesContent(t *testing.T) {
	const w, h = 64, 36
	// gradient.png is 40x30 with value 6*column. Cover crops rows only and
	// enlarges 40 columns to 64 by linear interpolation between pixel
	// centres, so output column c shows 6*u, u = (c+0.5)*40/64 - 0.5
	// clamped to the source.
	f := render(t, `{"family":"images","paths":["testdata/images/gradient.png"]}`, w, h, 60, 0)
	for c := range w {
		want := 6 * max(0, min(39, (float64(c)+0.5)*40/w-0.5))
		for r := range h {
			require.InDelta(t, want, float64(f[r*w+c]), 0.51, "pixel (%d,%d)", r, c)
		}
	}
	// checker.jpg is 64x36, 4 x 4 squares of 60 and 180: same size, so
	// (up to JPEG loss) the same pixels.
	f = render(t, `{"family":"images","paths":["testdata/images/checker.jpg"]}`, w, h, 60, 0)
	for _, p := range [][2]int{{4, 8}, {4, 24}, {13, 8}, {30, 60}} {
		want := 60 + 120*((p[0]/9+p[1]/16)%2)
		require.InDelta(t, want, int(f[p[0]*w+p[1]]), 6, "pixel %v", p)
	}
	// colour.png is 30x40 (portrait): contain pads columns outside a
	// centred 27-pixel-wide picture with mean gray.
	f = render(t, `{"family":"images","paths":["testdata/images/colour.png"],"fit":"contain"}`, w, h, 60, 0)
	for r := range h {
		for c := range w {
			if c < 18 || c >= 45 {
				require.Equal(t, byte(128), f[r*w+c], "padding at (%d,%d)", r, c)
			}
		}
	}
	// Its luma falls with column (blue) and rises with row (red).
	require.Greater(t, f[(h-2)*w+31], f[1*w+31])
	// Shrinking averages areas: stretched to 20 columns, output column c
	// is the mean of source columns 2c and 2c+1.
	f = render(t, `{"family":"images","paths":["testdata/images/gradient.png"],"fit":"stretch"}`, 20, 10, 60, 0)
	for c := range 20 {
		require.Equal(t, byte(6*2*c+3), f[5*20+c], "column %d", c)
	}
}

func TestFramesRoundTrip(t *testing.T) {
	const w, h, n = 16, 9, 5
	src := make([][]byte, n)
	var enc []string
	for k := range src {
		src[k] = make([]byte, w*h)
		for i := range src[k] {
			src[k][i] = byte(i*7 + k*31)
		}
		enc = append(enc, base64.StdEncoding.EncodeToString(src[k]))
	}
	raw := filepath.Join(t.TempDir(), "frames.raw")
	var all []byte
	for _, f := range src {
		all = append(all, f...)
	}
	require.NoError(t, os.WriteFile(raw, all, 0o644))
	for _, tc := range []struct {
		name string
		spec map[string]any
	}{
		{"base64", map[string]any{"frames": enc}},
		{"raw file", map[string]any{"path": raw}},
	} {
		for _, hold := range []int{1, 3} {
			t.Run(fmt.Sprint(tc.name, hold), func(t *testing.T) {
				spec := map[string]any{"family": "frames", "width": w, "height": h, "hold_frames": hold}
				for k, v := range tc.spec {
					spec[k] = v
				}
				data, _ := json.Marshal(spec)
				seq, err := New(data, w, h, 60)
				require.NoError(t, err)
				buf := make([]byte, w*h)
				for i := range 3 * n * hold {
					seq.Render(i, buf)
					require.Equal(t, src[(i/hold)%n], buf, "frame %d", i)
				}
			})
		}
	}
	// Resampled to twice the size, a constant frame stays constant and a
	// frame's mean is kept.
	f := render(t, `{"family":"frames","width":2,"height":1,"frames":["ZGQ="]}`, 8, 4, 60, 0)
	for _, v := range f {
		require.Equal(t, byte(100), v)
	}
}

// TestVideoSequence checks the image-sequence path (no ffmpeg needed) and
// the display-rate mapping: frame i shows source frame floor(i*src/rate).
func TestVideoSequence(t *testing.T) {
	for _, tc := range []struct {
		path       string
		srcRate    float64
		rate       float64
		wantFrames int
	}{
		{"testdata/sequence", 15, 60, seqFrames},
		{"testdata/sequence/frame00[1-3].png", 30, 30, 3},
		{"testdata/sequence/*.png", 24, 60, seqFrames},
	} {
		t.Run(tc.path, func(t *testing.T) {
			spec := fmt.Sprintf(`{"family":"video","path":%q,"source_rate_hz":%g}`, tc.path, tc.srcRate)
			seq, err := New(json.RawMessage(spec), 32, 18, tc.rate)
			require.NoError(t, err)
			v := seq.(*video)
			require.Len(t, v.frames, tc.wantFrames)
			first := 0
			if tc.wantFrames == 3 {
				first = 1
			}
			buf := make([]byte, 32*18)
			for i := range 40 {
				seq.Render(i, buf)
				k := int(float64(i)*tc.srcRate/tc.rate) % tc.wantFrames
				require.Equal(t, seqFrame(first+k).Pix, buf, "display frame %d shows source frame %d", i, k)
			}
		})
	}
}

// TestVideoFile encodes the sequence fixture as an mp4 with ffmpeg and
// decodes it through the video family.
func TestVideoFile(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	_, perr := exec.LookPath("ffprobe")
	if err != nil || perr != nil {
		t.Skip("ffmpeg is not installed: skipping the mp4 part (the image-sequence path is tested without it)")
	}
	if enc, err := exec.Command(ffmpeg, "-hide_banner", "-encoders").Output(); err != nil || !strings.Contains(string(enc), "libx264") {
		t.Skip("this ffmpeg has no libx264 encoder to make the test clip")
	}
	dir := t.TempDir()
	for k := range seqFrames {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%03d.png", k)))
		require.NoError(t, err)
		require.NoError(t, png.Encode(f, seqFrame(k)))
		require.NoError(t, f.Close())
	}
	mp4 := filepath.Join(dir, "clip.mp4")
	out, err := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-framerate", "10", "-i", filepath.Join(dir, "f%03d.png"),
		"-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", mp4).CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", out)
	seq, err := New(json.RawMessage(fmt.Sprintf(`{"family":"video","path":%q}`, mp4)), 32, 18, 30)
	require.NoError(t, err)
	require.Len(t, seq.(*video).frames, seqFrames)
	buf := make([]byte, 32*18)
	for i := range 24 {
		seq.Render(i, buf)
		want := seqFrame((i / 3) % seqFrames).Pix // 10 Hz source at 30 Hz
		for p := range want {
			require.InDelta(t, want[p], buf[p], 3, "display frame %d pixel %d", i, p)
		}
	}
	seq, err = New(json.RawMessage(fmt.Sprintf(`{"family":"video","path":%q,"max_frames":2}`, mp4)), 32, 18, 30)
	require.NoError(t, err)
	require.Len(t, seq.(*video).frames, 2, "max_frames bounds the decoded frames")

	t.Run("no ffmpeg", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := New(json.RawMessage(fmt.Sprintf(`{"family":"video","path":%q}`, mp4)), 32, 18, 30)
		require.ErrorIs(t, err, rig.ErrInvalid)
		require.ErrorContains(t, err, "install ffmpeg")
	})
}
