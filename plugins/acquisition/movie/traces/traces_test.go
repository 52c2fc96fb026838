package traces

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// disk returns a disk-shaped ROI file entry.
func disk(id string, cy, cx, r int) fileROI {
	var f fileROI
	f.ID = id
	for y := cy - r; y <= cy+r; y++ {
		for x := cx - r; x <= cx+r; x++ {
			if (y-cy)*(y-cy)+(x-cx)*(x-cx) <= r*r {
				f.YPix = append(f.YPix, y)
				f.XPix = append(f.XPix, x)
			}
		}
	}
	return f
}

func doc(t *testing.T, w, h int, rois ...fileROI) []byte {
	b, err := json.Marshal(fileMasks{Width: w, Height: h, ROIs: rois})
	require.NoError(t, err)
	return b
}

func TestParseMasks(t *testing.T) {
	good := doc(t, 32, 24, disk("a", 10, 10, 3), fileROI{YPix: []int{0, 0}, XPix: []int{0, 1}, Lam: []float64{1, 3}})
	m, err := ParseMasks(good, "cells.json")
	require.NoError(t, err)
	require.Equal(t, 32, m.Width)
	require.Len(t, m.ROIs, 2)
	require.Equal(t, "roi1", m.ROIs[1].ID)
	require.Equal(t, []int32{0, 1}, m.ROIs[1].Pix)
	require.Equal(t, []float32{1, 3}, m.ROIs[1].Weights)
	// Round trip through MarshalJSON.
	b, err := json.Marshal(m)
	require.NoError(t, err)
	m2, err := ParseMasks(b, "again.json")
	require.NoError(t, err)
	require.Equal(t, m, m2)

	cases := []struct {
		name string
		data string
		msgs []string
	}{
		{"outside FOV", `{"width":8,"height":8,"rois":[{"id":"c7","ypix":[1,9],"xpix":[1,1]}]}`, []string{"cells.json", `roi 0 ("c7")`, "(y 9, x 1) is outside the 8x8 field of view"}},
		{"negative pixel", `{"width":8,"height":8,"rois":[{"ypix":[1],"xpix":[-1]}]}`, []string{`roi 0 ("roi0")`, "outside"}},
		{"length mismatch", `{"width":8,"height":8,"rois":[{"ypix":[1,2],"xpix":[1]}]}`, []string{"2 ypix and 1 xpix"}},
		{"lam mismatch", `{"width":8,"height":8,"rois":[{"ypix":[1],"xpix":[1],"lam":[1,2]}]}`, []string{"2 lam for 1 pixels"}},
		{"negative lam", `{"width":8,"height":8,"rois":[{"ypix":[1],"xpix":[1],"lam":[-1]}]}`, []string{"lam[0] = -1"}},
		{"zero weights", `{"width":8,"height":8,"rois":[{"ypix":[1],"xpix":[1],"lam":[0]}]}`, []string{"weights sum to 0"}},
		{"duplicate pixel", `{"width":8,"height":8,"rois":[{"ypix":[1,1],"xpix":[2,2]}]}`, []string{"(y 1, x 2) listed twice"}},
		{"duplicate id", `{"width":8,"height":8,"rois":[{"id":"a","ypix":[1],"xpix":[2]},{"id":"a","ypix":[3],"xpix":[3]}]}`, []string{"id already used by roi 0"}},
		{"no rois", `{"width":8,"height":8,"rois":[]}`, []string{"no rois"}},
		{"no size", `{"rois":[{"ypix":[1],"xpix":[1]}]}`, []string{"width 0, height 0"}},
		{"unknown field", `{"width":8,"height":8,"stat":1}`, []string{"unknown field"}},
		{"not json", `ypix,xpix`, []string{"cells.json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMasks([]byte(tc.data), "cells.json")
			require.ErrorIs(t, err, rig.ErrInvalid)
			for _, m := range tc.msgs {
				require.Contains(t, err.Error(), m)
			}
		})
	}
}

func FuzzParseMasks(f *testing.F) {
	f.Add([]byte(`{"width":8,"height":8,"rois":[{"id":"c","ypix":[1,2],"xpix":[1,1],"lam":[0.5,1]}]}`))
	f.Add([]byte(`{"width":3,"height":2,"rois":[{"ypix":[1],"xpix":[2]},{"ypix":[0],"xpix":[0]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMasks(data, "fuzz.json")
		if err != nil {
			return
		}
		for _, r := range m.ROIs {
			require.Len(t, r.Weights, len(r.Pix))
			for _, p := range r.Pix {
				require.True(t, p >= 0 && int(p) < m.Width*m.Height)
			}
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		m2, err := ParseMasks(b, "again.json")
		require.NoError(t, err)
		require.Equal(t, m, m2)
	})
}

func TestExtract(t *testing.T) {
	const w, h = 64, 48
	a := disk("a", 20, 20, 3)
	b := disk("b", 20, 27, 3) // 7 px apart: b lies in a's would-be annulus
	a.Lam = make([]float64, len(a.YPix))
	for k := range a.Lam {
		a.Lam[k] = float64(k%3 + 1)
	}
	m, err := ParseMasks(doc(t, w, h, a, b), "m.json")
	require.NoError(t, err)
	e, err := NewExtractor(m, ExtractConfig{Width: w, Height: h, MinNeuropilPixels: 100})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, e.IDs())

	inROI := map[int32]int{}
	for i, r := range m.ROIs {
		for _, p := range r.Pix {
			inROI[p] = i
		}
	}
	for i := range 2 {
		np := e.NeuropilPixels(i)
		require.Len(t, np, 100)
		for _, p := range np {
			py, px := int(p)/w, int(p)%w
			// No neuropil pixel within 2 px of any ROI pixel.
			for q := range inROI {
				qy, qx := int(q)/w, int(q)%w
				require.Greater(t, (py-qy)*(py-qy)+(px-qx)*(px-qx), 4, "roi %d neuropil pixel (%d,%d) near roi pixel (%d,%d)", i, py, px, qy, qx)
			}
		}
	}
	// A frame with a gradient: ROI means are the weighted means of it.
	frame := make([]float32, w*h)
	for p := range frame {
		frame[p] = float32(p%w) + 100*float32(p/w)
	}
	f, fneu := make([]float32, 2), make([]float32, 2)
	require.NoError(t, e.Extract(f, fneu, frame))
	for i, r := range m.ROIs {
		var s, sw float64
		for k, p := range r.Pix {
			s += float64(r.Weights[k]) * float64(frame[p])
			sw += float64(r.Weights[k])
		}
		require.InDelta(t, s/sw, f[i], 1e-3)
		var sn float64
		for _, p := range e.NeuropilPixels(i) {
			sn += float64(frame[p])
		}
		require.InDelta(t, sn/100, fneu[i], 1e-2)
	}
	require.ErrorIs(t, e.Extract(f[:1], fneu, frame), rig.ErrInvalid)

	_, err = NewExtractor(m, ExtractConfig{Width: w + 1, Height: h})
	require.ErrorIs(t, err, rig.ErrInvalid)
	bad := &Masks{Width: w, Height: h, ROIs: []ROI{{ID: "z9", Pix: []int32{int32(w * h)}, Weights: []float32{1}}}}
	_, err = NewExtractor(bad, ExtractConfig{Width: w, Height: h})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), `roi 0 ("z9")`)
	require.Contains(t, err.Error(), "outside the 64x48 field of view")
}

// maximin is the direct (quadratic) causal maximin over a running mean.
func maximin(x []float32, window, smooth int) []float32 {
	sm := make([]float64, len(x))
	for t := range x {
		var s float64
		n := 0
		for k := max(0, t-smooth+1); k <= t; k++ {
			s += float64(x[k])
			n++
		}
		sm[t] = s / float64(n)
	}
	lo := make([]float64, len(x))
	for t := range x {
		lo[t] = math.Inf(1)
		for k := max(0, t-window+1); k <= t; k++ {
			lo[t] = min(lo[t], sm[k])
		}
	}
	out := make([]float32, len(x))
	for t := range x {
		m := math.Inf(-1)
		for k := max(0, t-window+1); k <= t; k++ {
			m = max(m, lo[k])
		}
		out[t] = float32(m)
	}
	return out
}

func TestBaseline(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const n, T = 3, 400
	x := make([][]float32, n)
	for i := range x {
		x[i] = make([]float32, T)
		for k := range x[i] {
			x[i][k] = 50 + 20*float32(math.Sin(float64(k)/40+float64(i))) + 5*float32(rng.NormFloat64())
			if rng.Float64() < 0.03 {
				x[i][k] += 40
			}
		}
	}
	for _, cfg := range []BaselineConfig{{Window: 30, SmoothFrames: 5, Floor: 1}, {Window: 1, SmoothFrames: 1, Floor: 1}, {Window: 100, SmoothFrames: 1, Floor: 1}} {
		b, err := NewBaseline(n, cfg)
		require.NoError(t, err)
		f0, dff, fc := make([]float32, n), make([]float32, n), make([]float32, n)
		want := make([][]float32, n)
		for i := range n {
			want[i] = maximin(x[i], cfg.Window, cfg.SmoothFrames)
		}
		for k := range T {
			for i := range n {
				fc[i] = x[i][k]
			}
			require.NoError(t, b.Push(f0, dff, fc))
			for i := range n {
				require.InDelta(t, want[i][k], f0[i], 1e-3, "cfg %+v trace %d t %d", cfg, i, k)
				require.InDelta(t, (x[i][k]-want[i][k])/max(want[i][k], 1), dff[i], 1e-4)
			}
		}
		require.Equal(t, int64(T), b.Samples())
	}
	_, err := NewBaseline(0, BaselineConfig{Window: 0, SmoothFrames: 2, Floor: 0})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "Window 0")
	require.Contains(t, err.Error(), "Floor 0")
}
