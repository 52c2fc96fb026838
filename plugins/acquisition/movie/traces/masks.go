package traces

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/twinrig/twinrig/rig"
)

// ROI is one region of interest: pixel indices (y*Width + x) with weights.
type ROI struct {
	// ID labels the ROI in errors and outputs.
	ID string
	// Pix are linear pixel indices y*Width + x, each once.
	Pix []int32
	// Weights has one finite weight >= 0 per pixel, with a positive sum.
	Weights []float32
}

// Masks is a validated set of ROIs for frames of Width x Height.
type Masks struct {
	Width, Height int
	ROIs          []ROI
}

// maxMaskPixels bounds width*height in a mask file.
const maxMaskPixels = 1 << 26

type fileROI struct {
	ID   string    `json:"id"`
	YPix []int     `json:"ypix"`
	XPix []int     `json:"xpix"`
	Lam  []float64 `json:"lam"`
}

type fileMasks struct {
	Width  int       `json:"width"`
	Height int       `json:"height"`
	ROIs   []fileROI `json:"rois"`
}

// LoadMasks reads and parses a mask file (see the package doc for the
// format).
func LoadMasks(path string) (*Masks, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("masks: %w", err)
	}
	return ParseMasks(data, path)
}

// ParseMasks parses a mask document; name labels it in errors. Every problem
// found is reported (errors.Join), each wrapping rig.ErrInvalid.
func ParseMasks(data []byte, name string) (*Masks, error) {
	var f fileMasks
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("masks %s: %v: %w", name, err, rig.ErrInvalid)
	}
	if f.Width <= 0 || f.Height <= 0 || f.Width > maxMaskPixels || f.Height > maxMaskPixels || f.Width*f.Height > maxMaskPixels {
		return nil, fmt.Errorf("masks %s: width %d, height %d: want both > 0 and at most %d pixels: %w",
			name, f.Width, f.Height, maxMaskPixels, rig.ErrInvalid)
	}
	if len(f.ROIs) == 0 {
		return nil, fmt.Errorf("masks %s: no rois: %w", name, rig.ErrInvalid)
	}
	m := &Masks{Width: f.Width, Height: f.Height, ROIs: make([]ROI, 0, len(f.ROIs))}
	var errs []error
	seen := map[string]int{}
	for i, r := range f.ROIs {
		id := r.ID
		if id == "" {
			id = fmt.Sprintf("roi%d", i)
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("masks %s: roi %d (%q): %s: %w", name, i, id, fmt.Sprintf(format, args...), rig.ErrInvalid))
		}
		if j, dup := seen[id]; dup {
			bad("id already used by roi %d", j)
		}
		seen[id] = i
		if len(r.YPix) == 0 || len(r.YPix) != len(r.XPix) {
			bad("%d ypix and %d xpix, want the same number > 0", len(r.YPix), len(r.XPix))
			continue
		}
		if r.Lam != nil && len(r.Lam) != len(r.YPix) {
			bad("%d lam for %d pixels", len(r.Lam), len(r.YPix))
			continue
		}
		roi := ROI{ID: id, Pix: make([]int32, len(r.YPix)), Weights: make([]float32, len(r.YPix))}
		pix := map[int32]struct{}{}
		var sum float64
		ok := true
		for k := range r.YPix {
			y, x := r.YPix[k], r.XPix[k]
			if y < 0 || y >= f.Height || x < 0 || x >= f.Width {
				bad("pixel %d at (y %d, x %d) is outside the %dx%d field of view", k, y, x, f.Width, f.Height)
				ok = false
				break
			}
			p := int32(y*f.Width + x)
			if _, dup := pix[p]; dup {
				bad("pixel (y %d, x %d) listed twice", y, x)
				ok = false
				break
			}
			pix[p] = struct{}{}
			w := 1.0
			if r.Lam != nil {
				w = r.Lam[k]
			}
			if !(w >= 0) || math.IsInf(w, 0) || w > math.MaxFloat32 {
				bad("lam[%d] = %v, want a finite value >= 0", k, w)
				ok = false
				break
			}
			roi.Pix[k], roi.Weights[k] = p, float32(w)
			sum += float64(float32(w))
		}
		if ok && !(sum > 0) {
			bad("weights sum to %v, want > 0", sum)
			ok = false
		}
		if ok {
			m.ROIs = append(m.ROIs, roi)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// MarshalJSON writes the masks in the file format.
func (m *Masks) MarshalJSON() ([]byte, error) {
	f := fileMasks{Width: m.Width, Height: m.Height, ROIs: make([]fileROI, len(m.ROIs))}
	for i, r := range m.ROIs {
		fr := fileROI{ID: r.ID, YPix: make([]int, len(r.Pix)), XPix: make([]int, len(r.Pix)), Lam: make([]float64, len(r.Pix))}
		for k, p := range r.Pix {
			fr.YPix[k], fr.XPix[k] = int(p)/m.Width, int(p)%m.Width
			fr.Lam[k] = float64(r.Weights[k])
		}
		f.ROIs[i] = fr
	}
	return json.Marshal(f)
}
