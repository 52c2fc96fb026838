package stimuli

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// blob is one connected set of bright pixels.
type blob struct {
	x, y float64 // centroid, pixels from the top-left corner
	area int
}

// blobs finds the 4-connected components of pixels equal to level (no
// wrap-around: blobs cut by an edge come out as pieces, which the caller
// ignores by their size).
func blobs(frame []byte, w, h int, level byte) []blob {
	seen := make([]bool, len(frame))
	var out []blob
	var stack []int
	for start := range frame {
		if seen[start] || frame[start] != level {
			continue
		}
		var b blob
		stack = append(stack[:0], start)
		seen[start] = true
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			r, c := i/w, i%w
			b.x += float64(c) + 0.5
			b.y += float64(r) + 0.5
			b.area++
			for _, n := range [][2]int{{r - 1, c}, {r + 1, c}, {r, c - 1}, {r, c + 1}} {
				if n[0] < 0 || n[0] >= h || n[1] < 0 || n[1] >= w {
					continue
				}
				j := n[0]*w + n[1]
				if !seen[j] && frame[j] == level {
					seen[j] = true
					stack = append(stack, j)
				}
			}
		}
		b.x /= float64(b.area)
		b.y /= float64(b.area)
		out = append(out, b)
	}
	return out
}

// TestRDKCoherence tracks dots between consecutive frames from the pixels
// alone: a dot counts as coherent when a dot of the next frame lies where
// the coherent motion would take it. Noise dots move at the same speed in
// random directions, so about asin(0.75/6)/pi = 4% of them land there by
// chance; the expected fraction allows for that.
func TestRDKCoherence(t *testing.T) {
	for _, coherence := range []float64{0, 0.25, 0.5, 0.8, 1} {
		t.Run(fmt.Sprint(coherence), func(t *testing.T) {
			const w, h, rate, step = 200, 200, 60.0, 6.0 // step: pixels per frame
			const dir = 30.0
			spec := fmt.Sprintf(`{"family":"rdk","seed":8,"coherence":%g,"direction_deg":%g,"speed":%g,"density":40,"dot_radius":0.006,"lifetime":0,"polarity":"on"}`,
				coherence, dir, step*rate/w)
			seq, err := New(json.RawMessage(spec), w, h, rate)
			require.NoError(t, err)
			vx, vy := step*math.Cos(dir*math.Pi/180), -step*math.Sin(dir*math.Pi/180)
			a, b := make([]byte, w*h), make([]byte, w*h)
			var tracked, coherent int
			for i := 0; i < 60; i++ {
				seq.Render(i, a)
				seq.Render(i+1, b)
				next := blobs(b, w, h, 255)
				for _, d := range blobs(a, w, h, 255) {
					if d.area < 3 || d.area > 6 || d.x < 8 || d.x > w-8 || d.y < 8 || d.y > h-8 {
						continue // a piece at an edge or overlapping dots
					}
					tracked++
					for _, e := range next {
						if math.Hypot(e.x-d.x-vx, e.y-d.y-vy) < 0.75 {
							coherent++
							break
						}
					}
				}
			}
			require.Greater(t, tracked, 1000)
			frac := float64(coherent) / float64(tracked)
			t.Logf("%d of %d tracked dots moved coherently: %.3f", coherent, tracked, frac)
			require.InDelta(t, coherence+(1-coherence)*0.04, frac, 0.04)
		})
	}
}

// TestRDKLifetime checks from the dots' state that every slot is reborn
// every lifetime frames (staggered across slots), moves by the coherent
// velocity or a random one of the same speed within a life, and that the
// number of coherent slots is round(coherence * n).
func TestRDKLifetime(t *testing.T) {
	const w, h, rate = 128, 72, 60.0
	seq, err := New(json.RawMessage(`{"family":"rdk","seed":3,"coherence":0.3,"direction_deg":-45,"speed":0.5,"density":200,"lifetime":7}`), w, h, rate)
	require.NoError(t, err)
	d := seq.(*rdk)
	require.Equal(t, int(math.Round(200*float64(h)/w)), d.n)
	require.Equal(t, int(math.Round(0.3*float64(d.n))), d.coherent)
	step := 0.5 * w / rate
	births := map[int]int{}
	for j := range d.n {
		prev := d.dot(j, 0)
		lastBirth := -1
		for i := 1; i < 40; i++ {
			cur := d.dot(j, i)
			if cur.life != prev.life {
				require.Equal(t, prev.life+1, cur.life)
				if lastBirth >= 0 {
					require.Equal(t, 7, i-lastBirth, "slot %d lives 7 frames", j)
				}
				lastBirth = i
				births[i%7]++
			} else {
				dx := math.Remainder(cur.x-prev.x, w)
				dy := math.Remainder(cur.y-prev.y, h)
				require.InDelta(t, step, math.Hypot(dx, dy), 1e-6, "slot %d frame %d speed", j, i)
				if cur.coherent {
					require.InDelta(t, step*math.Cos(-math.Pi/4), dx, 1e-6)
					require.InDelta(t, -step*math.Sin(-math.Pi/4), dy, 1e-6)
				}
			}
			prev = cur
		}
	}
	require.Greater(t, len(births), 3, "births are staggered across frames")
}
