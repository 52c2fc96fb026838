package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// Stimulus is a neuron's analytically most exciting stimulus, rendered at
// one frame size: see Mouse.OptimalStimulus.
type Stimulus struct {
	// Width and Height are the frame size in pixels.
	Width, Height int
	// TemporalFreqHz is how fast the pattern drifts: 0 for a static image
	// (simple and complex cells), the cell's preferred temporal frequency
	// for a direction-selective cell.
	TemporalFreqHz float64
	// DirectionDeg is the drift direction (the neuron's DirectionDeg).
	DirectionDeg float64

	even, odd  []float32 // per grid cell
	sign       float64   // weight of odd at phase 90 degrees
	phase      float64   // static phase, radians
	cellOfPix  []int32   // per pixel, its grid cell
	gridLength int
}

// OptimalStimulus returns neuron i's most exciting stimulus at width x
// height pixels, or an error wrapping rig.ErrInvalid for a bad neuron index
// or size.
//
// The neuron's drive is a linear function of the stimulus grid (simple
// cells), or the energy of two (complex and direction-selective cells),
// followed by increasing functions, so under the constraint that pixels
// lie in 0..255 the drive is largest when every grid cell sits at full
// contrast with the sign of the filter: the Gabor matching the receptive
// field at its optimal phase, binarised to full contrast inside the
// receptive field's support and mean gray outside (a full-contrast smooth
// Gabor drives less). For a simple cell that image is exactly optimal. For
// a complex cell it is the best of 36 phases of the quadrature pair
// (within 0.4 % of the optimum over phases). For a direction-selective cell
// the pattern drifts at the preferred temporal frequency in the preferred
// direction (a quarter cycle per quadrature delay), which drives its
// motion energy near its maximum.
//
// Frames are exact for width and height at least the grid's; below it
// cells share pixels and the pattern is approximate.
func (m *Mouse) OptimalStimulus(i, width, height int) (Stimulus, error) {
	if i < 0 || i >= m.n {
		return Stimulus{}, fmt.Errorf("sim: optimal stimulus of neuron %d, want 0 to %d: %w", i, m.n-1, rig.ErrInvalid)
	}
	if width < 1 || height < 1 || width*height > 1<<26 {
		return Stimulus{}, fmt.Errorf("sim: optimal stimulus at %dx%d pixels, want width and height >= 1 and at most 2^26 pixels: %w", width, height, rig.ErrInvalid)
	}
	gw, gh := m.cfg.GridWidth, m.cfg.GridHeight
	f := &m.filters[i]
	rf := m.rfs[i]
	s := Stimulus{Width: width, Height: height, DirectionDeg: rf.DirectionDeg, gridLength: gw * gh}
	even, odd := f.dense(m.spec)
	s.even = make([]float32, gw*gh)
	for j, v := range even {
		s.even[j] = float32(v)
	}
	if odd != nil {
		s.odd = make([]float32, gw*gh)
		for j, v := range odd {
			s.odd[j] = float32(v)
		}
	}
	switch m.kind[i] {
	case complexCell:
		best := -1.0
		for k := range 36 {
			ph := float64(k) * math.Pi / 18
			c, sn := math.Cos(ph), math.Sin(ph)
			var e, o float64
			for j := range s.even {
				w := c*float64(s.even[j]) + sn*float64(s.odd[j])
				if w == 0 {
					continue
				}
				p := math.Copysign(gratingAmplitude, w)
				e += p * float64(s.even[j])
				o += p * float64(s.odd[j])
			}
			if energy := math.Hypot(e, o); energy > best {
				best, s.phase = energy, ph
			}
		}
	case dsCell:
		s.TemporalFreqHz = rf.TemporalFreqHz
		s.sign = -m.dsSign[i]
	}
	cols, rows := spans(width, gw), spans(height, gh)
	colOf := make([]int32, width)
	for c, sp := range cols {
		for x := sp.lo; x < sp.hi; x++ {
			colOf[x] = int32(c)
		}
	}
	s.cellOfPix = make([]int32, width*height)
	for r, sp := range rows {
		for y := sp.lo; y < sp.hi; y++ {
			for x := range width {
				s.cellOfPix[y*width+x] = int32(r*gw) + colOf[x]
			}
		}
	}
	return s, nil
}

// Frame renders the stimulus at time t (from its onset) into a new
// row-major 8-bit gray frame of Width x Height pixels.
func (s Stimulus) Frame(t time.Duration) []byte {
	c, sn := math.Cos(s.phase), math.Sin(s.phase)
	if s.TemporalFreqHz > 0 {
		ph := 2 * math.Pi * s.TemporalFreqHz * t.Seconds()
		c, sn = math.Cos(ph), s.sign*math.Sin(ph)
	}
	cell := make([]byte, s.gridLength)
	for j := range cell {
		w := c * float64(s.even[j])
		if s.odd != nil {
			w += sn * float64(s.odd[j])
		}
		switch {
		case w > 0:
			cell[j] = 255
		case w < 0:
			cell[j] = 1
		default:
			cell[j] = 128
		}
	}
	out := make([]byte, len(s.cellOfPix))
	for p, j := range s.cellOfPix {
		out[p] = cell[j]
	}
	return out
}
