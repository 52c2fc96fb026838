package tiff

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// movie makes n pages of w x h samples with a distinct, seeded pattern.
func movie(n, w, h, bits int, seed uint64) [][]uint16 {
	rng := rand.New(rand.NewPCG(seed, 7))
	maxV := 1<<bits - 1
	out := make([][]uint16, n)
	for i := range out {
		out[i] = make([]uint16, w*h)
		for j := range out[i] {
			out[i][j] = uint16(rng.IntN(maxV + 1))
		}
	}
	return out
}

// encode writes pages with the given options and descriptions.
func encode(t testing.TB, opt WriterOptions, pages [][]uint16, w, h, bits int, signed bool, desc func(int) string) []byte {
	var buf bytes.Buffer
	tw, err := NewWriter(&buf, opt)
	require.NoError(t, err)
	for i, p := range pages {
		d := ""
		if desc != nil {
			d = desc(i)
		}
		require.NoError(t, tw.WritePage(WritePage{Width: w, Height: h, BitsPerSample: bits, Signed: signed, Pix: p, Description: d}))
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func scanImageDesc(i int) string {
	return fmt.Sprintf("frameNumbers = %d\nframeTimestamps_sec = %.6f\nacqTriggerTimestamps_sec = \n", i+1, 0.25+float64(i)/30)
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name   string
		opt    WriterOptions
		bits   int
		signed bool
		w, h   int
	}{
		{"classic LE 16-bit", WriterOptions{}, 16, false, 13, 7},
		{"classic BE 16-bit strips", WriterOptions{ByteOrder: binary.BigEndian, RowsPerStrip: 3}, 16, false, 13, 7},
		{"BigTIFF LE 16-bit signed", WriterOptions{BigTIFF: true}, 16, true, 8, 9},
		{"BigTIFF BE 8-bit strips", WriterOptions{BigTIFF: true, ByteOrder: binary.BigEndian, RowsPerStrip: 2}, 8, false, 5, 5},
		{"classic LE 8-bit one row per strip", WriterOptions{RowsPerStrip: 1}, 8, false, 4, 3},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pages := movie(5, tc.w, tc.h, tc.bits, uint64(ci))
			data := encode(t, tc.opt, pages, tc.w, tc.h, tc.bits, tc.signed, scanImageDesc)
			r, err := NewReader(bytes.NewReader(data), int64(len(data)), "fixture.tif")
			require.NoError(t, err)
			require.Equal(t, tc.opt.BigTIFF, r.BigTIFF())
			var buf []uint16
			for i := 0; ; i++ {
				p, err := r.Next()
				if err == io.EOF {
					require.Equal(t, len(pages), i, "page count")
					break
				}
				require.NoError(t, err)
				require.Equal(t, i, p.Index)
				require.Equal(t, tc.w, p.Width)
				require.Equal(t, tc.h, p.Height)
				require.Equal(t, tc.bits, p.BitsPerSample)
				require.Equal(t, tc.signed, p.Signed)
				require.Equal(t, scanImageDesc(i), p.Description)
				ts, ok := p.Timestamp()
				require.True(t, ok)
				require.InDelta(t, 0.25+float64(i)/30, ts.Seconds(), 1e-6)
				buf, err = p.ReadPixels(buf)
				require.NoError(t, err)
				require.Equal(t, pages[i], buf, "page %d samples", i)
			}
		})
	}
}

func TestAll(t *testing.T) {
	pages := movie(4, 3, 3, 8, 9)
	data := encode(t, WriterOptions{BigTIFF: true}, pages, 3, 3, 8, false, scanImageDesc)
	r, err := NewReader(bytes.NewReader(data), int64(len(data)), "all.tif")
	require.NoError(t, err)
	var n int
	for p, err := range r.All() {
		require.NoError(t, err)
		pix, err := p.ReadPixels(nil)
		require.NoError(t, err)
		require.Equal(t, pages[n], pix)
		n++
	}
	require.Equal(t, 4, n)
	// A truncated file yields its error once, then stops.
	r, err = NewReader(bytes.NewReader(data[:len(data)-3]), int64(len(data)-3), "cut.tif")
	require.NoError(t, err)
	var errs int
	n = 0
	for _, err := range r.All() {
		n++
		if err != nil {
			errs++
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.Contains(t, err.Error(), "cut.tif: page 3")
		}
	}
	require.Equal(t, 1, errs)
	require.Equal(t, 4, n)
}

func TestScanImageTimestamp(t *testing.T) {
	cases := []struct {
		desc string
		want float64
		ok   bool
	}{
		{"frameNumbers = 1\nframeTimestamps_sec = 1.500000\n", 1.5, true},
		{"frameTimestamps_sec=0.0333\r\nx = 2", 0.0333, true},
		{"  frameTimestamps_sec   =   12   ", 12, true},
		{"frameTimestamps_sec = \n", 0, false},
		{"frameTimestamps_sec = NaN\n", 0, false},
		{"acqTriggerTimestamps_sec = 3\n", 0, false},
		{"", 0, false},
	}
	for _, tc := range cases {
		got, ok := ScanImageTimestamp(tc.desc)
		require.Equal(t, tc.ok, ok, "%q", tc.desc)
		require.InDelta(t, tc.want, got, 1e-12, "%q", tc.desc)
	}
	p := Page{Description: "frameTimestamps_sec = 2.5"}
	d, ok := p.Timestamp()
	require.True(t, ok)
	require.Equal(t, 2500*time.Millisecond, d)
}

// readAll reads every page and its pixels, returning the first error.
func readAll(data []byte, name string) (int, error) {
	r, err := NewReader(bytes.NewReader(data), int64(len(data)), name)
	if err != nil {
		return 0, err
	}
	var buf []uint16
	for n := 0; ; n++ {
		p, err := r.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if buf, err = p.ReadPixels(buf); err != nil {
			return n, err
		}
	}
}

func TestCorruptFiles(t *testing.T) {
	pages := movie(3, 6, 4, 16, 1)
	classic := encode(t, WriterOptions{}, pages, 6, 4, 16, false, nil)
	big := encode(t, WriterOptions{BigTIFF: true}, pages, 6, 4, 16, false, nil)
	// page size in bytes of one classic page block, to find page 2's IFD.
	r, err := NewReader(bytes.NewReader(classic), int64(len(classic)), "x")
	require.NoError(t, err)
	_, err = r.Next()
	require.NoError(t, err)
	page1IFD := r.next

	patch := func(b []byte, at int, v ...byte) []byte {
		c := append([]byte(nil), b...)
		copy(c[at:], v)
		return c
	}
	cases := []struct {
		name string
		data []byte
		kind error
		msgs []string
	}{
		{"empty", nil, rig.ErrInvalid, []string{"movie.tif", "shorter than a TIFF header"}},
		{"bad byte order", patch(classic, 0, 'X', 'X'), rig.ErrInvalid, []string{"byte order mark"}},
		{"bad magic", patch(classic, 2, 41, 0), rig.ErrInvalid, []string{"magic number 41"}},
		{"truncated pixels", classic[:len(classic)-5], rig.ErrInvalid, []string{"movie.tif", "page 2", "truncated"}},
		{"truncated BigTIFF pixels", big[:len(big)-1], rig.ErrInvalid, []string{"page 2", "run past the end"}},
		{"IFD past end", patch(classic, 4, 0xff, 0xff, 0, 0), rig.ErrInvalid, []string{"page 0", "past the end"}},
		{"IFD loop", patch(classic, int(page1IFD)+2+11*12, 8, 0, 0, 0), rig.ErrInvalid, []string{"page 2", "loop"}},
		{"header cut inside page 1 IFD", classic[:page1IFD+10], rig.ErrInvalid, []string{"page 1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(tc.data, "movie.tif")
			require.Error(t, err)
			require.ErrorIs(t, err, tc.kind)
			for _, m := range tc.msgs {
				require.Contains(t, err.Error(), m)
			}
		})
	}
}

// ifdEntryAt returns the byte offset of the entry for tag in the first IFD
// of a classic little-endian file.
func ifdEntryAt(t *testing.T, b []byte, tag uint16) int {
	off := int(binary.LittleEndian.Uint32(b[4:]))
	n := int(binary.LittleEndian.Uint16(b[off:]))
	for i := range n {
		at := off + 2 + 12*i
		if binary.LittleEndian.Uint16(b[at:]) == tag {
			return at
		}
	}
	t.Fatalf("tag %d not in the first IFD", tag)
	return 0
}

func TestUnsupported(t *testing.T) {
	base := encode(t, WriterOptions{}, movie(1, 4, 4, 16, 2), 4, 4, 16, false, nil)
	set := func(tag uint16, v uint16) []byte {
		c := append([]byte(nil), base...)
		at := ifdEntryAt(t, c, tag)
		binary.LittleEndian.PutUint16(c[at+8:], v)
		return c
	}
	cases := []struct {
		name string
		data []byte
		kind error
		msg  string
	}{
		{"compressed", set(tagCompression, 5), rig.ErrUnsupported, "compression 5"},
		{"rgb", set(tagSamplesPerPixel, 3), rig.ErrUnsupported, "3 samples per pixel"},
		{"32-bit", set(tagBitsPerSample, 32), rig.ErrUnsupported, "32 bits per sample"},
		{"float", set(tagSampleFormat, 3), rig.ErrUnsupported, "sample format 3"},
		{"palette", set(tagPhotometric, 3), rig.ErrUnsupported, "photometric interpretation 3"},
		{"zero rows per strip", set(tagRowsPerStrip, 0), rig.ErrInvalid, "RowsPerStrip is 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(tc.data, "odd.tif")
			require.ErrorIs(t, err, tc.kind)
			require.Contains(t, err.Error(), "odd.tif: page 0")
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestWriterErrors(t *testing.T) {
	var buf bytes.Buffer
	tw, err := NewWriter(&buf, WriterOptions{})
	require.NoError(t, err)
	require.ErrorIs(t, tw.WritePage(WritePage{Width: 2, Height: 2, BitsPerSample: 16, Pix: make([]uint16, 3)}), rig.ErrInvalid)
	require.ErrorIs(t, tw.WritePage(WritePage{Width: 1, Height: 1, BitsPerSample: 12, Pix: make([]uint16, 1)}), rig.ErrInvalid)
	require.ErrorIs(t, tw.Close(), rig.ErrState)
	require.ErrorIs(t, tw.WritePage(WritePage{Width: 1, Height: 1, BitsPerSample: 8, Pix: make([]uint16, 1)}), rig.ErrState)
	_, err = NewWriter(&buf, WriterOptions{RowsPerStrip: -1})
	require.True(t, errors.Is(err, rig.ErrInvalid))
}

// FuzzReader feeds arbitrary bytes to the reader: it must return errors,
// never panic, and never hand back a page whose pixel count disagrees with
// its size.
func FuzzReader(f *testing.F) {
	f.Add(encode(f, WriterOptions{}, movie(2, 3, 2, 16, 3), 3, 2, 16, false, scanImageDesc))
	f.Add(encode(f, WriterOptions{BigTIFF: true, ByteOrder: binary.BigEndian, RowsPerStrip: 1}, movie(2, 2, 3, 8, 4), 2, 3, 8, false, nil))
	f.Add(encode(f, WriterOptions{BigTIFF: true}, movie(1, 2, 2, 16, 5), 2, 2, 16, true, scanImageDesc))
	f.Add([]byte("II*\x00\x08\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)), "fuzz.tif")
		if err != nil {
			return
		}
		var buf []uint16
		for range 64 {
			p, err := r.Next()
			if err != nil {
				return
			}
			buf, err = p.ReadPixels(buf)
			if err != nil {
				continue
			}
			if len(buf) != p.Width*p.Height {
				t.Fatalf("page %d: %d samples for %dx%d", p.Index, len(buf), p.Width, p.Height)
			}
		}
	})
}

// FuzzScanImageTimestamp: any description parses without panicking, and a
// value reported as present is finite and found on a frameTimestamps_sec line.
func FuzzScanImageTimestamp(f *testing.F) {
	f.Add("frameNumbers = 1\nframeTimestamps_sec = 0.033\n")
	f.Add("frameTimestamps_sec=1e308\r\n")
	f.Fuzz(func(t *testing.T, desc string) {
		v, ok := ScanImageTimestamp(desc)
		if !ok {
			return
		}
		require.False(t, math.IsNaN(v) || math.IsInf(v, 0))
		require.Contains(t, desc, "frameTimestamps_sec")
	})
}
