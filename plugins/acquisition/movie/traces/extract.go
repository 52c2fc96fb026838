package traces

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/twinrig/twinrig/rig"
)

// ExtractConfig sets up an Extractor. Zero fields take the defaults noted.
type ExtractConfig struct {
	// Width and Height are the frame size; they must match the masks'.
	Width, Height int
	// InnerGap is the distance in pixels, from any ROI pixel, inside which
	// no pixel counts as neuropil. Default 2; 0 is allowed via a negative
	// value (-1).
	InnerGap float64
	// MinNeuropilPixels is how many neuropil pixels each ROI takes (the
	// nearest ones). Default 350.
	MinNeuropilPixels int
	// MaxNeuropilRadius bounds the neuropil's distance from the ROI, in
	// pixels. Default 25.
	MaxNeuropilRadius float64
}

// Extractor computes ROI and neuropil fluorescence from frames. Its pixel
// lists are fixed at construction; Extract allocates nothing. It is safe
// for concurrent use by several goroutines (it holds no per-call state).
type Extractor struct {
	cfg    ExtractConfig
	ids    []string
	pix    []int32 // ROI pixels, all ROIs concatenated
	wts    []float32
	roiOff []int32 // ROI i: pix[roiOff[i]:roiOff[i+1]]
	wsum   []float32
	np     []int32 // neuropil pixels, concatenated
	npOff  []int32
}

// NewExtractor checks the masks against cfg and builds the neuropil
// annuli. Errors wrap rig.ErrInvalid and name the field or ROI.
func NewExtractor(m *Masks, cfg ExtractConfig) (*Extractor, error) {
	if m == nil || len(m.ROIs) == 0 {
		return nil, fmt.Errorf("traces: no masks: %w", rig.ErrInvalid)
	}
	if cfg.Width != m.Width || cfg.Height != m.Height {
		return nil, fmt.Errorf("traces: masks are for %dx%d frames, frames are %dx%d: %w", m.Width, m.Height, cfg.Width, cfg.Height, rig.ErrInvalid)
	}
	switch {
	case cfg.InnerGap == 0:
		cfg.InnerGap = 2
	case cfg.InnerGap < 0:
		cfg.InnerGap = 0
	}
	if cfg.MinNeuropilPixels == 0 {
		cfg.MinNeuropilPixels = 350
	}
	if cfg.MaxNeuropilRadius == 0 {
		cfg.MaxNeuropilRadius = 25
	}
	var errs []error
	if cfg.MinNeuropilPixels < 0 {
		errs = append(errs, fmt.Errorf("traces: MinNeuropilPixels %d, want >= 0: %w", cfg.MinNeuropilPixels, rig.ErrInvalid))
	}
	if !(cfg.MaxNeuropilRadius > cfg.InnerGap) || cfg.MaxNeuropilRadius > 200 {
		errs = append(errs, fmt.Errorf("traces: MaxNeuropilRadius %v, want above InnerGap (%v) and at most 200: %w", cfg.MaxNeuropilRadius, cfg.InnerGap, rig.ErrInvalid))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	w, h := cfg.Width, cfg.Height
	e := &Extractor{cfg: cfg, roiOff: []int32{0}, npOff: []int32{0}}
	for i, r := range m.ROIs {
		if len(r.Pix) == 0 || len(r.Pix) != len(r.Weights) {
			return nil, fmt.Errorf("traces: roi %d (%q): %d pixels and %d weights: %w", i, r.ID, len(r.Pix), len(r.Weights), rig.ErrInvalid)
		}
		var s float32
		for k, p := range r.Pix {
			if p < 0 || int(p) >= w*h {
				return nil, fmt.Errorf("traces: roi %d (%q): pixel index %d is outside the %dx%d field of view: %w", i, r.ID, p, w, h, rig.ErrInvalid)
			}
			s += r.Weights[k]
		}
		if !(s > 0) {
			return nil, fmt.Errorf("traces: roi %d (%q): weights sum to %v, want > 0: %w", i, r.ID, s, rig.ErrInvalid)
		}
		e.ids = append(e.ids, r.ID)
		e.pix = append(e.pix, r.Pix...)
		e.wts = append(e.wts, r.Weights...)
		e.roiOff = append(e.roiOff, int32(len(e.pix)))
		e.wsum = append(e.wsum, s)
	}
	// Pixels within InnerGap of any ROI pixel are never neuropil.
	excl := make([]bool, w*h)
	g := int(math.Floor(cfg.InnerGap))
	g2 := cfg.InnerGap * cfg.InnerGap
	for _, p := range e.pix {
		py, px := int(p)/w, int(p)%w
		for dy := -g; dy <= g; dy++ {
			for dx := -g; dx <= g; dx++ {
				y, x := py+dy, px+dx
				if y >= 0 && y < h && x >= 0 && x < w && float64(dy*dy+dx*dx) <= g2 {
					excl[y*w+x] = true
				}
			}
		}
	}
	type cand struct {
		p  int32
		d2 float64
	}
	var cands []cand
	R := cfg.MaxNeuropilRadius
	for _, r := range m.ROIs {
		// Bounding box and the ROI's boundary pixels (those with a
		// 4-neighbour outside the ROI): distances to them suffice.
		in := map[int32]bool{}
		y0, y1, x0, x1 := h, -1, w, -1
		for _, p := range r.Pix {
			in[p] = true
			y, x := int(p)/w, int(p)%w
			y0, y1, x0, x1 = min(y0, y), max(y1, y), min(x0, x), max(x1, x)
		}
		var edge [][2]int
		for _, p := range r.Pix {
			y, x := int(p)/w, int(p)%w
			if !in[p-1] || !in[p+1] || !in[p-int32(w)] || !in[p+int32(w)] || x == 0 || x == w-1 {
				edge = append(edge, [2]int{y, x})
			}
		}
		cands = cands[:0]
		ri := int(math.Ceil(R))
		for y := max(0, y0-ri); y <= min(h-1, y1+ri); y++ {
			for x := max(0, x0-ri); x <= min(w-1, x1+ri); x++ {
				if excl[y*w+x] {
					continue
				}
				best := math.Inf(1)
				for _, q := range edge {
					dy, dx := float64(y-q[0]), float64(x-q[1])
					best = min(best, dy*dy+dx*dx)
				}
				if best <= R*R {
					cands = append(cands, cand{int32(y*w + x), best})
				}
			}
		}
		sort.Slice(cands, func(a, b int) bool {
			if cands[a].d2 != cands[b].d2 {
				return cands[a].d2 < cands[b].d2
			}
			return cands[a].p < cands[b].p
		})
		for _, c := range cands[:min(len(cands), cfg.MinNeuropilPixels)] {
			e.np = append(e.np, c.p)
		}
		e.npOff = append(e.npOff, int32(len(e.np)))
	}
	return e, nil
}

// Len returns the number of ROIs.
func (e *Extractor) Len() int { return len(e.ids) }

// IDs returns the ROI labels in output order (shared; do not modify).
func (e *Extractor) IDs() []string { return e.ids }

// NeuropilPixels returns ROI i's neuropil pixel indices (shared; do not
// modify); empty when none qualified.
func (e *Extractor) NeuropilPixels(i int) []int32 { return e.np[e.npOff[i]:e.npOff[i+1]] }

// Extract writes each ROI's weighted mean fluorescence into f and its
// neuropil mean into fneu (both Len() long) from frame (Width*Height).
func (e *Extractor) Extract(f, fneu []float32, frame []float32) error {
	n := len(e.ids)
	if len(f) != n || len(fneu) != n || len(frame) != e.cfg.Width*e.cfg.Height {
		return fmt.Errorf("traces: outputs of %d and %d for %d rois, frame of %d for %dx%d: %w",
			len(f), len(fneu), n, len(frame), e.cfg.Width, e.cfg.Height, rig.ErrInvalid)
	}
	for i := range n {
		a, b := e.roiOff[i], e.roiOff[i+1]
		f[i] = weightedSum(frame, e.pix[a:b], e.wts[a:b]) / e.wsum[i]
		a, b = e.npOff[i], e.npOff[i+1]
		if b > a {
			fneu[i] = sum(frame, e.np[a:b]) / float32(b-a)
		} else {
			fneu[i] = 0
		}
	}
	return nil
}

// weightedSum returns sum_k w[k] frame[pix[k]] (len(w) >= len(pix)). Four
// partial sums break the chain of dependent additions (the traces stage
// takes about 20 % less CPU than with one).
func weightedSum(frame []float32, pix []int32, w []float32) float32 {
	w = w[:len(pix)]
	var s0, s1, s2, s3 float32
	k := 0
	for ; k+4 <= len(pix); k += 4 {
		p := pix[k : k+4 : k+4]
		q := w[k : k+4 : k+4]
		s0 += q[0] * frame[p[0]]
		s1 += q[1] * frame[p[1]]
		s2 += q[2] * frame[p[2]]
		s3 += q[3] * frame[p[3]]
	}
	for ; k < len(pix); k++ {
		s0 += w[k] * frame[pix[k]]
	}
	return (s0 + s1) + (s2 + s3)
}

// sum returns sum_k frame[pix[k]], with four partial sums as weightedSum.
func sum(frame []float32, pix []int32) float32 {
	var s0, s1, s2, s3 float32
	k := 0
	for ; k+4 <= len(pix); k += 4 {
		p := pix[k : k+4 : k+4]
		s0 += frame[p[0]]
		s1 += frame[p[1]]
		s2 += frame[p[2]]
		s3 += frame[p[3]]
	}
	for ; k < len(pix); k++ {
		s0 += frame[pix[k]]
	}
	return (s0 + s1) + (s2 + s3)
}
