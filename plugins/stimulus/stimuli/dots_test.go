package stimuli

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// moments returns the weighted centre and standard deviations of |I-128|
// over a frame, and the signed extreme deviation.
func moments(frame []byte, w, h int) (mx, my, sdx, sdy, peak float64) {
	var sum, sx, sy, sxx, syy float64
	for r := range h {
		for c := range w {
			d := float64(frame[r*w+c]) - 128
			if math.Abs(d) > math.Abs(peak) {
				peak = d
			}
			a := math.Abs(d)
			x, y := float64(c)+0.5, float64(r)+0.5
			sum += a
			sx += a * x
			sy += a * y
			sxx += a * x * x
			syy += a * y * y
		}
	}
	if sum == 0 {
		return 0, 0, 0, 0, 0
	}
	mx, my = sx/sum, sy/sum
	return mx, my, math.Sqrt(sxx/sum - mx*mx), math.Sqrt(syy/sum - my*my), peak
}

// TestDotsShape fits the dot's width and checks its place and polarity.
func TestDotsShape(t *testing.T) {
	for _, tc := range []struct {
		polarity string
		sigma    float64
		sign     float64
	}{{"on", 0.03, 1}, {"off", 0.05, -1}, {"on", 0.02, 1}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			const w, h = 160, 90
			spec := fmt.Sprintf(`{"family":"dots","rows":1,"cols":1,"sigma":%g,"polarity":%q}`, tc.sigma, tc.polarity)
			mx, my, sdx, sdy, peak := moments(render(t, spec, w, h, 60, 3), w, h)
			require.InDelta(t, w/2, mx, 0.2)
			require.InDelta(t, h/2, my, 0.2)
			require.InEpsilon(t, tc.sigma*w, sdx, 0.03, "sigma along x")
			require.InEpsilon(t, tc.sigma*w, sdy, 0.03, "sigma along y")
			require.InDelta(t, tc.sign*127, peak, 3, "peak deviation from mean gray")
		})
	}
}

// TestDotsTiming checks on and off frames and that a grid block visits
// every cell once.
func TestDotsTiming(t *testing.T) {
	for _, tc := range []struct{ on, off int }{{3, 2}, {1, 0}, {5, 7}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			const w, h, rows, cols = 64, 36, 3, 4
			spec := fmt.Sprintf(`{"family":"dots","seed":5,"rows":%d,"cols":%d,"sigma":0.02,"on_frames":%d,"off_frames":%d}`, rows, cols, tc.on, tc.off)
			seq, err := New(json.RawMessage(spec), w, h, 60)
			require.NoError(t, err)
			period := tc.on + tc.off
			buf := make([]byte, w*h)
			for block := range 3 {
				cells := map[[2]int]bool{}
				for k := block * rows * cols; k < (block+1)*rows*cols; k++ {
					var first []byte
					for i := k * period; i < (k+1)*period; i++ {
						seq.Render(i, buf)
						mx, my, _, _, peak := moments(buf, w, h)
						if i-k*period >= tc.on {
							require.Zero(t, peak, "frame %d must be blank", i)
							continue
						}
						require.Greater(t, math.Abs(peak), 100.0, "frame %d must show a dot", i)
						if first == nil {
							first = append([]byte(nil), buf...)
							cell := [2]int{int(my / (h / rows)), int(mx / (w / cols))}
							require.InDelta(t, (float64(cell[1])+0.5)*w/cols, mx, 0.2)
							require.InDelta(t, (float64(cell[0])+0.5)*h/rows, my, 0.2)
							require.False(t, cells[cell], "cell %v shown twice in block %d", cell, block)
							cells[cell] = true
						} else {
							require.Equal(t, first, buf, "frame %d differs within flash %d", i, k)
						}
					}
				}
				require.Len(t, cells, rows*cols)
			}
		})
	}
}

// TestDotsPolarityAndRandomLayout checks that "both" draws both signs
// about equally often and that random positions cover the frame.
func TestDotsPolarityAndRandomLayout(t *testing.T) {
	const w, h, n = 64, 36, 300
	seq, err := New(json.RawMessage(`{"family":"dots","seed":2,"layout":"random","sigma":0.01,"on_frames":1,"off_frames":0}`), w, h, 60)
	require.NoError(t, err)
	buf := make([]byte, w*h)
	bright := 0
	var quadrants [4]int
	for i := range n {
		seq.Render(i, buf)
		mx, my, _, _, peak := moments(buf, w, h)
		if peak > 0 {
			bright++
		}
		quadrants[2*int(2*my/h)+int(2*mx/w)]++
	}
	// Binomial(300, 0.5): 5 s.d. is about 43.
	require.InDelta(t, n/2, bright, 43)
	for q, k := range quadrants {
		require.InDelta(t, n/4, k, 38, "quadrant %d", q)
	}
}
