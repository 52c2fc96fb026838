package stimuli

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"os"
)

// maxFrameList bounds the number of frames the frames family accepts.
const maxFrameList = 100000

// Size of the frames family's built-in default: 8 frames of binary noise.
const (
	defaultFramesW = 32
	defaultFramesH = 18
	defaultFramesN = 8
)

func newFrames(p *params, seed uint64, width, height int, _ float64) Sequence {
	fw := p.int("width", defaultFramesW, 1, MaxSize)
	fh := p.int("height", defaultFramesH, 1, MaxSize)
	path := p.path("path")
	hold := p.int("hold_frames", 1, 1, math.MaxInt32)
	fit := p.str("fit", fitStretch, fitModes...)
	list := p.value("frames")
	switch {
	case list != nil && path != "":
		p.errorf("field %q: given with %q, want one of them", "frames", "path")
	case (list != nil || path != "") && (p.value("width") == nil || p.value("height") == nil):
		p.errorf("fields %q and %q: missing, want the size of the given frames", "width", "height")
	case list == nil && path == "" && (p.value("width") != nil || p.value("height") != nil):
		p.errorf("fields %q and %q: given without %q or %q, want them only with frames", "width", "height", "frames", "path")
	}
	if p.err() != nil {
		return nil
	}
	size := fw * fh
	var src [][]byte
	switch {
	case list != nil:
		var enc []string
		if err := json.Unmarshal(list, &enc); err != nil {
			p.errorf("field %q: %s is not a list of base64 strings", "frames", quote(list))
			return nil
		}
		if len(enc) == 0 || len(enc) > maxFrameList {
			p.errorf("field %q: %d entries, want 1 to %d", "frames", len(enc), maxFrameList)
			return nil
		}
		for i, e := range enc {
			f, err := base64.StdEncoding.DecodeString(e)
			if err != nil {
				p.errorf("field %q: entry %d: %v, want standard base64", "frames", i, err)
				return nil
			}
			if len(f) != size {
				p.errorf("field %q: entry %d: %d bytes, want width*height = %dx%d = %d", "frames", i, len(f), fw, fh, size)
				return nil
			}
			src = append(src, f)
		}
	case path != "":
		info, err := os.Stat(path)
		if err != nil {
			p.errorf("field %q: %v, want a raw file of 8-bit gray frames", "path", err)
			return nil
		}
		if info.Size() == 0 || info.Size()%int64(size) != 0 || info.Size()/int64(size) > maxFrameList {
			p.errorf("field %q: %s has %d bytes, want 1 to %d frames of width*height = %dx%d = %d bytes", "path", path, info.Size(), maxFrameList, fw, fh, size)
			return nil
		}
		if info.Size() > maxStoreBytes {
			p.errorf("field %q: %s has %d bytes, want at most %d", "path", path, info.Size(), int64(maxStoreBytes))
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			p.errorf("field %q: %v", "path", err)
			return nil
		}
		for i := 0; i+size <= len(data); i += size {
			src = append(src, data[i:i+size])
		}
	default:
		// Built-in default: seeded binary noise.
		src = make([][]byte, defaultFramesN)
		rs := stream(seed, keyFrames)
		for k := range src {
			src[k] = make([]byte, size)
			for i := range src[k] {
				src[k][i] = byte(255 * (rs.Uint64() >> 63))
			}
		}
		hold = p.int("hold_frames", 15, 1, math.MaxInt32)
	}
	if !checkStore(p, "frames", len(src), width, height) {
		return nil
	}
	s := &stored{width: width, height: height, hold: hold}
	for _, f := range src {
		out := make([]byte, width*height)
		resample(f, fw, fh, out, width, height, fit)
		s.frames = append(s.frames, out)
	}
	// A frame held for hold display frames, no gap: stored shows list
	// entry k for frames [k*hold, (k+1)*hold).
	return s
}
