package stimuli

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDefaults checks that every advertised family works from
// {"family": F, "seed": 1} alone, as the rig's conformance suite asks, at
// the model's size and at an odd one.
func TestDefaults(t *testing.T) {
	for _, f := range Families() {
		for _, size := range [][2]int{{256, 144}, {33, 17}} {
			t.Run(fmt.Sprint(f, size), func(t *testing.T) {
				seq, err := New(json.RawMessage(`{"family":"`+f+`","seed":1}`), size[0], size[1], 60)
				require.NoError(t, err)
				buf := make([]byte, size[0]*size[1])
				for _, i := range []int{0, 1, 59, -7, 1 << 40} {
					seq.Render(i, buf)
				}
			})
		}
	}
}

// TestSeedChangesFrames checks that the seeded families give the same
// frames for the same seed and different frames for another.
func TestSeedChangesFrames(t *testing.T) {
	for _, spec := range []string{
		`{"family":"dots","layout":"random"}`,
		`{"family":"dots"}`,
		`{"family":"rdk"}`,
		`{"family":"pink_noise"}`,
		`{"family":"natural"}`,
		`{"family":"images"}`,
		`{"family":"video"}`,
		`{"family":"frames"}`,
	} {
		t.Run(spec, func(t *testing.T) {
			frames := func(seed int) []byte {
				var raw map[string]any
				require.NoError(t, json.Unmarshal([]byte(spec), &raw))
				raw["seed"] = seed
				data, _ := json.Marshal(raw)
				seq, err := New(data, 48, 27, 30)
				require.NoError(t, err)
				var all []byte
				buf := make([]byte, 48*27)
				for i := range 60 {
					seq.Render(i, buf)
					all = append(all, buf...)
				}
				return all
			}
			require.Equal(t, frames(5), frames(5))
			require.NotEqual(t, frames(5), frames(6))
		})
	}
}

// TestConcurrentRender renders each golden case's frames from several
// goroutines at once (run with -race) and compares them with a serial
// rendering.
func TestConcurrentRender(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			seq, err := New(json.RawMessage(tc.spec), tc.width, tc.height, tc.rateHz)
			require.NoError(t, err)
			n := min(tc.frames, 24)
			want := make([][]byte, n)
			for i := range want {
				want[i] = make([]byte, tc.width*tc.height)
				seq.Render(i, want[i])
			}
			got := make([][]byte, n)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := g; i < n; i += 4 {
						got[i] = make([]byte, tc.width*tc.height)
						seq.Render(i, got[i])
					}
				})
			}
			wg.Wait()
			require.Equal(t, want, got)
		})
	}
}

// TestNaturalMovesSmoothly checks that the procedural video changes
// little from frame to frame and a lot over seconds.
func TestNaturalMovesSmoothly(t *testing.T) {
	const w, h = 128, 72
	seq, err := New(json.RawMessage(`{"family":"natural","seed":3}`), w, h, 60)
	require.NoError(t, err)
	frame := func(i int) []byte {
		buf := make([]byte, w*h)
		seq.Render(i, buf)
		return buf
	}
	corr := func(a, b []byte) float64 {
		var ma, mb float64
		for i := range a {
			ma += float64(a[i])
			mb += float64(b[i])
		}
		ma /= float64(len(a))
		mb /= float64(len(b))
		var sab, saa, sbb float64
		for i := range a {
			da, db := float64(a[i])-ma, float64(b[i])-mb
			sab += da * db
			saa += da * da
			sbb += db * db
		}
		return sab / (saa * sbb) * sab
	}
	f0 := frame(100)
	require.Greater(t, corr(f0, frame(101)), 0.8, "consecutive frames are alike (r^2)")
	require.Less(t, corr(f0, frame(100+60*20)), 0.5, "frames 20 s apart differ (r^2)")
}

// TestNaturalBackgroundSpectrum fits the spectral slope of the natural
// family's background (no objects) at low and middle frequencies, where
// the sub-pixel interpolation does not matter.
func TestNaturalBackgroundSpectrum(t *testing.T) {
	for _, alpha := range []float64{1, 2, 3} {
		t.Run(fmt.Sprint(alpha), func(t *testing.T) {
			const n = 128
			var slope float64
			for seed := range 3 {
				spec := fmt.Sprintf(`{"family":"natural","seed":%d,"objects":0,"alpha":%g,"contrast":0.1}`, seed, alpha)
				slope += spectralSlope(powerSpectrum(render(t, spec, n, n, 30, 17), n), n, 2.0/n, 0.15) / 3
			}
			t.Logf("slope %.3f", slope)
			require.InDelta(t, -alpha, slope, 0.2)
		})
	}
}

// BenchmarkFamilies renders each family's default at the model's size and
// at full HD, reporting frames per second (single goroutine).
func BenchmarkFamilies(b *testing.B) {
	for _, f := range Families() {
		for _, size := range [][2]int{{256, 144}, {1920, 1080}} {
			b.Run(fmt.Sprintf("%s/%dx%d", f, size[0], size[1]), func(b *testing.B) {
				seq, err := New(json.RawMessage(`{"family":"`+f+`","seed":1}`), size[0], size[1], 60)
				require.NoError(b, err)
				buf := make([]byte, size[0]*size[1])
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					seq.Render(i, buf)
					i++
				}
				b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "frames/s")
			})
		}
	}
}
