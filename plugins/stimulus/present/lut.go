package present

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/twinrig/twinrig/rig"
)

// LUT is a gamma calibration table: entry g is the level sent to the
// display for stimulus gray level g. It applies only to what a screen
// shows; the frames reported back keep the stimulus levels, which is what
// the model is fed.
type LUT [256]byte

// IdentityLUT returns the table that changes nothing.
func IdentityLUT() LUT {
	var l LUT
	for i := range l {
		l[i] = byte(i)
	}
	return l
}

// ParseLUT decodes a calibration table: a JSON list of exactly 256
// integers, each in [0,255], never decreasing (a display's inverse gamma
// is monotonic; a decrease means a broken file). Errors name the entry and
// wrap rig.ErrInvalid.
func ParseLUT(data []byte) (LUT, error) {
	var l LUT
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return l, fmt.Errorf("%s is not a JSON list of 256 levels: %w", short(data), rig.ErrInvalid)
	}
	if len(raw) != len(l) {
		return l, fmt.Errorf("%d entries, want %d: %w", len(raw), len(l), rig.ErrInvalid)
	}
	for i, v := range raw {
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil || n < 0 || n > 255 {
			return l, fmt.Errorf("entry %d: %s is not an integer in [0,255]: %w", i, short(v), rig.ErrInvalid)
		}
		l[i] = byte(n)
		if i > 0 && l[i] < l[i-1] {
			return l, fmt.Errorf("entry %d: %d is below entry %d (%d), want a non-decreasing table: %w", i, n, i-1, l[i-1], rig.ErrInvalid)
		}
	}
	return l, nil
}

// LoadLUT reads and parses the calibration file at path (see ParseLUT).
// Errors name the file and wrap rig.ErrInvalid.
func LoadLUT(path string) (LUT, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return LUT{}, fmt.Errorf("gamma LUT %q: %w: %w", path, err, rig.ErrInvalid)
	}
	l, err := ParseLUT(data)
	if err != nil {
		return l, fmt.Errorf("gamma LUT %q: %w", path, err)
	}
	return l, nil
}

// PaddedRGBA converts a w x h gray frame through the table into opaque
// RGBA pixels with a one-pixel border that repeats the frame's edge pixels:
// (w+2) x (h+2) pixels, 4*(w+2)*(h+2) bytes in dst. A texture made of them
// and drawn from its interior with a linear filter clamps at the frame's
// edges instead of fading into the transparent pixels around it.
func (l *LUT) PaddedRGBA(dst, gray []byte, w, h int) {
	pw, ph := w+2, h+2
	if w < 1 || h < 1 || len(gray) != w*h || len(dst) != 4*pw*ph {
		panic(fmt.Sprintf("present: PaddedRGBA of %dx%d from %d gray pixels into %d bytes", w, h, len(gray), len(dst)))
	}
	var px [256]uint32 // opaque RGBA, as little-endian words
	for g, v := range l {
		px[g] = uint32(v) | uint32(v)<<8 | uint32(v)<<16 | 0xff<<24
	}
	for py := range ph {
		y := min(max(py-1, 0), h-1)
		src := gray[y*w : (y+1)*w]
		row := dst[4*py*pw : 4*(py+1)*pw]
		binary.LittleEndian.PutUint32(row, px[src[0]])
		out := row[4:]
		for x, g := range src {
			binary.LittleEndian.PutUint32(out[4*x:], px[g])
		}
		binary.LittleEndian.PutUint32(row[4*(pw-1):], px[src[w-1]])
	}
}
