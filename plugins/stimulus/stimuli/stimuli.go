package stimuli

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/twinrig/twinrig/rig"
)

// MaxSize bounds the width and the height that New accepts, in pixels.
const MaxSize = 16384

// MaxRateHz bounds the display rate that New accepts.
const MaxRateHz = 1000

// Sequence renders the frames of one stimulus.
//
// Render writes display frame index (0-based; the index is the only notion
// of time, frame i being shown at i/rate seconds into the block) as 8-bit
// gray into dst, row-major with the top row first. dst must have exactly
// width*height bytes for the size given to New; Render panics otherwise.
// Frames may be rendered in any order and concurrently into distinct
// buffers; the same index always gives the same pixels.
type Sequence interface {
	Render(index int, dst []byte)
}

// family is one stimulus family: its parameter names (besides "family" and
// "seed") and its constructor.
type family struct {
	name   string
	fields []string
	build  func(p *params, seed uint64, width, height int, rateHz float64) Sequence
}

// families is sorted by name; it is a slice, not a map, so that every
// listing comes out in the same order.
var families = []family{
	{name: "blank", fields: []string{"level"}, build: newBlank},
	{name: "dots", fields: []string{
		"layout", "rows", "cols", "sigma", "polarity", "contrast", "on_frames", "off_frames",
	}, build: newDots},
	{name: "frames", fields: []string{"width", "height", "frames", "path", "hold_frames", "fit"}, build: newFrames},
	{name: "gabor", fields: []string{
		"orientation_deg", "cycles_per_width", "temporal_freq_hz", "phase_deg", "contrast",
		"sigma", "x", "y", "positions",
	}, build: newGabor},
	{name: "grating", fields: []string{
		"orientation_deg", "cycles_per_width", "temporal_freq_hz", "contrast",
		"phase_deg", "segment_frames", "orientations_deg",
	}, build: newGrating},
	{name: "images", fields: []string{"paths", "count", "on_frames", "off_frames", "fit"}, build: newImages},
	{name: "natural", fields: []string{"alpha", "contrast", "objects", "drift_speed", "object_speed"}, build: newNatural},
	{name: "pink_noise", fields: []string{"alpha", "contrast", "direction_deg", "speed"}, build: newPinkNoise},
	{name: "rdk", fields: []string{
		"coherence", "direction_deg", "speed", "density", "dot_radius", "lifetime", "polarity", "contrast",
	}, build: newRDK},
	{name: "video", fields: []string{"path", "source_rate_hz", "max_frames", "fit"}, build: newVideo},
}

// lookup returns the family called name, or nil.
func lookup(name string) *family {
	for i := range families {
		if families[i].name == name {
			return &families[i]
		}
	}
	return nil
}

// knownFamilies lists the family names for error messages.
func knownFamilies() string { return strings.Join(Families(), ", ") }

// Families returns the names of the known stimulus families, sorted. The
// caller owns the returned slice.
func Families() []string {
	names := make([]string, len(families))
	for i, f := range families {
		names[i] = f.name
	}
	return names
}

// New validates spec for frames of width x height pixels shown at rateHz
// and returns its Sequence.
//
// spec is a JSON object with "family" (one of Families), an optional
// integer "seed" (default 0) and the family's parameters (see the package
// documentation). Every error wraps rig.ErrInvalid and names the field, the
// value and what was expected; all problems in a spec are reported together.
func New(spec json.RawMessage, width, height int, rateHz float64) (Sequence, error) {
	if width < 1 || width > MaxSize || height < 1 || height > MaxSize {
		return nil, fmt.Errorf("stimulus size: %dx%d out of range, want width and height in [1,%d]: %w", width, height, MaxSize, rig.ErrInvalid)
	}
	if !(rateHz > 0 && rateHz <= MaxRateHz) {
		return nil, fmt.Errorf("stimulus rate: %s Hz out of range (0,%d]: %w", fmtFloat(rateHz), MaxRateHz, rig.ErrInvalid)
	}
	p, err := parseSpec(spec)
	if err != nil {
		return nil, err
	}
	seed := p.seed()
	seq := lookup(p.family).build(p, seed, width, height, rateHz)
	if err := p.err(); err != nil {
		return nil, err
	}
	return seq, nil
}

// checkDst panics unless dst holds exactly one frame of width x height.
func checkDst(dst []byte, width, height int) {
	if len(dst) != width*height {
		panic(fmt.Sprintf("stimuli: Render into %d bytes, want %dx%d = %d", len(dst), width, height, width*height))
	}
}

// blank is a uniform field.
type blank struct {
	width, height int
	level         byte
}

func newBlank(p *params, _ uint64, width, height int, _ float64) Sequence {
	return &blank{width: width, height: height, level: byte(p.int("level", 128, 0, 255))}
}

// Render fills dst with the blank's level.
func (b *blank) Render(_ int, dst []byte) {
	checkDst(dst, b.width, b.height)
	for i := range dst {
		dst[i] = b.level
	}
}

// fixed converts a phase in cycles to 64-bit fixed point (2^64 units per
// cycle), modulo one cycle.
func fixed(cycles float64) uint64 {
	f := cycles - math.Floor(cycles)
	v := math.Ldexp(f, 64)
	if v >= 0x1p64 {
		return 0
	}
	return uint64(v)
}
