package tiff

import (
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// TIFF tags this package reads or writes.
const (
	tagImageWidth       = 256
	tagImageLength      = 257
	tagBitsPerSample    = 258
	tagCompression      = 259
	tagPhotometric      = 262
	tagImageDescription = 270
	tagStripOffsets     = 273
	tagSamplesPerPixel  = 277
	tagRowsPerStrip     = 278
	tagStripByteCounts  = 279
	tagPlanarConfig     = 284
	tagTileWidth        = 322
	tagSampleFormat     = 339
)

// TIFF field types.
const (
	typeByte      = 1
	typeASCII     = 2
	typeShort     = 3
	typeLong      = 4
	typeRational  = 5
	typeSByte     = 6
	typeUndefined = 7
	typeSShort    = 8
	typeSLong     = 9
	typeSRational = 10
	typeFloat     = 11
	typeDouble    = 12
	typeIFD       = 13
	typeLong8     = 16
	typeSLong8    = 17
	typeIFD8      = 18
)

// Limits that keep a corrupt file from making the reader allocate or loop
// without bound.
const (
	maxEntries     = 4096     // IFD entries per page
	maxPixels      = 1 << 28  // samples per page
	maxDescription = 16 << 20 // bytes of ImageDescription
	maxPages       = 1 << 24  // pages per file (IFD loop guard)
)

// typeSize returns the size in bytes of one value of a TIFF field type, or 0
// for an unknown type.
func typeSize(t uint16) int {
	switch t {
	case typeByte, typeASCII, typeSByte, typeUndefined:
		return 1
	case typeShort, typeSShort:
		return 2
	case typeLong, typeSLong, typeFloat, typeIFD:
		return 4
	case typeRational, typeSRational, typeDouble, typeLong8, typeSLong8, typeIFD8:
		return 8
	}
	return 0
}

// Page is one image of a multi-page TIFF: its geometry and description. It
// stays valid after the Reader moves on; ReadPixels reads its samples.
type Page struct {
	// Index is the page's 0-based position in the file.
	Index int
	// Width and Height are the image size in pixels.
	Width, Height int
	// BitsPerSample is 8 or 16.
	BitsPerSample int
	// Signed is true when the samples are two's-complement integers
	// (SampleFormat 2, as ScanImage writes int16 data).
	Signed bool
	// WhiteIsZero is true for PhotometricInterpretation 0 (inverted
	// grayscale). Samples are returned as stored, never inverted.
	WhiteIsZero bool
	// Description is the page's ImageDescription text (tag 270) without its
	// trailing NUL bytes; empty when the page has none.
	Description string

	r          *Reader
	rowsPerStr int
	offsets    []uint64
	counts     []uint64
}

// Timestamp returns ScanImage's frameTimestamps_sec from the page's
// description, as a duration since the acquisition started, and whether the
// description holds one.
func (p *Page) Timestamp() (time.Duration, bool) {
	s, ok := ScanImageTimestamp(p.Description)
	if !ok {
		return 0, false
	}
	return time.Duration(s * float64(time.Second)), true
}

// ScanImageTimestamp finds the line "frameTimestamps_sec = <seconds>" in a
// ScanImage ImageDescription and returns its value and true; false when the
// line is missing or its value is not a finite number.
func ScanImageTimestamp(desc string) (float64, bool) {
	const key = "frameTimestamps_sec"
	for desc != "" {
		line := desc
		if i := strings.IndexAny(desc, "\r\n"); i >= 0 {
			line, desc = desc[:i], desc[i+1:]
		} else {
			desc = ""
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != key {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

// Reader walks the pages of one TIFF file. It is not safe for concurrent
// use, and the Pages it returns share its read buffer: call their
// ReadPixels from one goroutine at a time.
type Reader struct {
	ra      io.ReaderAt
	size    int64
	name    string
	order   binary.ByteOrder
	big     bool
	next    uint64 // offset of the next IFD; 0 at the end
	page    int
	seen    map[uint64]struct{}
	scratch []byte
}

// NewReader reads the header of the TIFF held by ra (size bytes long).
// name identifies the file in error messages (a path or any label).
func NewReader(ra io.ReaderAt, size int64, name string) (*Reader, error) {
	r := &Reader{ra: ra, size: size, name: name, seen: map[uint64]struct{}{}}
	var h [16]byte
	if size < 8 {
		return nil, r.errf(-1, rig.ErrInvalid, "file is %d bytes, shorter than a TIFF header (8)", size)
	}
	n := min(int64(16), size)
	if err := r.readAt(h[:n], 0); err != nil {
		return nil, r.errf(-1, rig.ErrInvalid, "header: %v", err)
	}
	switch string(h[:2]) {
	case "II":
		r.order = binary.LittleEndian
	case "MM":
		r.order = binary.BigEndian
	default:
		return nil, r.errf(-1, rig.ErrInvalid, "byte order mark %q, want \"II\" or \"MM\"", h[:2])
	}
	switch magic := r.order.Uint16(h[2:]); magic {
	case 42:
		r.next = uint64(r.order.Uint32(h[4:]))
	case 43:
		if n < 16 {
			return nil, r.errf(-1, rig.ErrInvalid, "file is %d bytes, shorter than a BigTIFF header (16)", size)
		}
		if bs := r.order.Uint16(h[4:]); bs != 8 {
			return nil, r.errf(-1, rig.ErrInvalid, "BigTIFF offset size %d, want 8", bs)
		}
		r.big = true
		r.next = r.order.Uint64(h[8:])
	default:
		return nil, r.errf(-1, rig.ErrInvalid, "magic number %d, want 42 (TIFF) or 43 (BigTIFF)", magic)
	}
	if r.next == 0 {
		return nil, r.errf(-1, rig.ErrInvalid, "header points to no image (first IFD offset 0)")
	}
	return r, nil
}

// BigTIFF reports whether the file is a BigTIFF (64-bit offsets).
func (r *Reader) BigTIFF() bool { return r.big }

// ByteOrder returns the file's byte order.
func (r *Reader) ByteOrder() binary.ByteOrder { return r.order }

// errf builds an error naming the file and, when page >= 0, the page.
func (r *Reader) errf(page int, kind error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if page >= 0 {
		return fmt.Errorf("tiff %s: page %d: %s: %w", r.name, page, msg, kind)
	}
	return fmt.Errorf("tiff %s: %s: %w", r.name, msg, kind)
}

// readAt reads exactly len(b) bytes at off, reporting a short file plainly.
func (r *Reader) readAt(b []byte, off uint64) error {
	if off > uint64(r.size) || uint64(len(b)) > uint64(r.size)-off {
		return fmt.Errorf("%d bytes at offset %d run past the end of the file (%d bytes)", len(b), off, r.size)
	}
	_, err := r.ra.ReadAt(b, int64(off))
	if err == io.EOF {
		err = nil // a full read that ends exactly at the end may say EOF
	}
	if err != nil {
		return fmt.Errorf("reading %d bytes at offset %d: %v", len(b), off, err)
	}
	return nil
}

// entry is one decoded IFD entry: its type, count and the raw bytes of its
// values (read from the entry itself or from the offset it points to).
type entry struct {
	typ   uint16
	count uint64
	raw   []byte
}

// Next reads the next page's directory and returns the page; io.EOF (bare,
// so that err == io.EOF works) after the last page.
func (r *Reader) Next() (Page, error) {
	if r.next == 0 {
		return Page{}, io.EOF
	}
	pg := r.page
	if pg >= maxPages {
		return Page{}, r.errf(pg, rig.ErrInvalid, "more than %d pages", maxPages)
	}
	if _, dup := r.seen[r.next]; dup {
		return Page{}, r.errf(pg, rig.ErrInvalid, "IFD offset %d was already read (a loop in the page chain)", r.next)
	}
	r.seen[r.next] = struct{}{}
	off := r.next
	entries, next, err := r.readIFD(off)
	if err != nil {
		return Page{}, r.errf(pg, rig.ErrInvalid, "IFD at offset %d: %v", off, err)
	}
	p, err := r.decodePage(pg, entries)
	if err != nil {
		return Page{}, err
	}
	r.next = next
	r.page++
	return p, nil
}

// All iterates over the remaining pages, calling Next for each; an error
// other than io.EOF is yielded once (with a zero Page) and ends the
// iteration.
func (r *Reader) All() iter.Seq2[Page, error] {
	return func(yield func(Page, error) bool) {
		for {
			p, err := r.Next()
			if err == io.EOF {
				return
			}
			if !yield(p, err) || err != nil {
				return
			}
		}
	}
}

// readIFD reads the directory at off and the offset of the next one.
func (r *Reader) readIFD(off uint64) (map[uint16]entry, uint64, error) {
	cntSize, entSize, offSize := 2, 12, 4
	if r.big {
		cntSize, entSize, offSize = 8, 20, 8
	}
	var cb [8]byte
	if err := r.readAt(cb[:cntSize], off); err != nil {
		return nil, 0, fmt.Errorf("entry count: %v", err)
	}
	var n uint64
	if r.big {
		n = r.order.Uint64(cb[:])
	} else {
		n = uint64(r.order.Uint16(cb[:]))
	}
	if n == 0 || n > maxEntries {
		return nil, 0, fmt.Errorf("%d entries, want 1 to %d", n, maxEntries)
	}
	buf := make([]byte, int(n)*entSize+offSize)
	if err := r.readAt(buf, off+uint64(cntSize)); err != nil {
		return nil, 0, fmt.Errorf("%d entries: %v", n, err)
	}
	entries := make(map[uint16]entry, n)
	for i := range int(n) {
		e := buf[i*entSize : (i+1)*entSize]
		tag := r.order.Uint16(e)
		typ := r.order.Uint16(e[2:])
		var count uint64
		var val []byte
		if r.big {
			count, val = r.order.Uint64(e[4:]), e[12:20]
		} else {
			count, val = uint64(r.order.Uint32(e[4:])), e[8:12]
		}
		if !wanted(tag) {
			continue
		}
		sz := typeSize(typ)
		if sz == 0 {
			return nil, 0, fmt.Errorf("tag %d: unknown field type %d", tag, typ)
		}
		if count > uint64(r.size) { // each value takes at least a byte of the file
			return nil, 0, fmt.Errorf("tag %d: count %d exceeds the file size %d", tag, count, r.size)
		}
		total := count * uint64(sz)
		var raw []byte
		if total <= uint64(len(val)) {
			raw = append([]byte(nil), val[:total]...)
		} else {
			var at uint64
			if r.big {
				at = r.order.Uint64(val)
			} else {
				at = uint64(r.order.Uint32(val))
			}
			if total > uint64(r.size) {
				return nil, 0, fmt.Errorf("tag %d: %d bytes of values exceed the file size %d", tag, total, r.size)
			}
			raw = make([]byte, total)
			if err := r.readAt(raw, at); err != nil {
				return nil, 0, fmt.Errorf("tag %d values: %v", tag, err)
			}
		}
		entries[tag] = entry{typ: typ, count: count, raw: raw}
	}
	nb := buf[int(n)*entSize:]
	var next uint64
	if r.big {
		next = r.order.Uint64(nb)
	} else {
		next = uint64(r.order.Uint32(nb))
	}
	return entries, next, nil
}

// wanted reports whether the reader decodes a tag; the values of other tags
// (ScanImage's large Software/Artist metadata among them) are never read.
func wanted(tag uint16) bool {
	switch tag {
	case tagImageWidth, tagImageLength, tagBitsPerSample, tagCompression, tagPhotometric,
		tagImageDescription, tagStripOffsets, tagSamplesPerPixel, tagRowsPerStrip,
		tagStripByteCounts, tagPlanarConfig, tagTileWidth, tagSampleFormat:
		return true
	}
	return false
}

// uints decodes an entry's values as unsigned integers.
func (r *Reader) uints(e entry) ([]uint64, error) {
	out := make([]uint64, e.count)
	for i := range out {
		switch e.typ {
		case typeByte, typeUndefined:
			out[i] = uint64(e.raw[i])
		case typeShort:
			out[i] = uint64(r.order.Uint16(e.raw[2*i:]))
		case typeLong, typeIFD:
			out[i] = uint64(r.order.Uint32(e.raw[4*i:]))
		case typeLong8, typeIFD8:
			out[i] = r.order.Uint64(e.raw[8*i:])
		default:
			return nil, fmt.Errorf("field type %d, want an unsigned integer type", e.typ)
		}
	}
	return out, nil
}

// scalar returns the first value of tag, def when the tag is absent.
func (r *Reader) scalar(pg int, es map[uint16]entry, tag uint16, def uint64) (uint64, error) {
	e, ok := es[tag]
	if !ok {
		return def, nil
	}
	if e.count == 0 {
		return 0, r.errf(pg, rig.ErrInvalid, "tag %d has no value", tag)
	}
	v, err := r.uints(entry{typ: e.typ, count: 1, raw: e.raw})
	if err != nil {
		return 0, r.errf(pg, rig.ErrInvalid, "tag %d: %v", tag, err)
	}
	return v[0], nil
}

// decodePage checks a directory and turns it into a Page.
func (r *Reader) decodePage(pg int, es map[uint16]entry) (Page, error) {
	p := Page{Index: pg, r: r}
	var errs error
	scalar := func(tag uint16, def uint64) uint64 {
		v, err := r.scalar(pg, es, tag, def)
		if err != nil && errs == nil {
			errs = err
		}
		return v
	}
	w := scalar(tagImageWidth, 0)
	h := scalar(tagImageLength, 0)
	bps := scalar(tagBitsPerSample, 1)
	comp := scalar(tagCompression, 1)
	photo := scalar(tagPhotometric, 1)
	spp := scalar(tagSamplesPerPixel, 1)
	planar := scalar(tagPlanarConfig, 1)
	sfmt := scalar(tagSampleFormat, 1)
	rps := scalar(tagRowsPerStrip, math.MaxUint32)
	if errs != nil {
		return Page{}, errs
	}
	switch {
	case w == 0 || h == 0:
		return Page{}, r.errf(pg, rig.ErrInvalid, "image size %dx%d (missing or zero ImageWidth/ImageLength)", w, h)
	case w > maxPixels || h > maxPixels || w*h > maxPixels:
		return Page{}, r.errf(pg, rig.ErrUnsupported, "image size %dx%d exceeds %d pixels", w, h, maxPixels)
	}
	if _, tiled := es[tagTileWidth]; tiled {
		return Page{}, r.errf(pg, rig.ErrUnsupported, "tiled image, only strips are read")
	}
	if comp != 1 {
		return Page{}, r.errf(pg, rig.ErrUnsupported, "compression %d, only uncompressed (1) is read", comp)
	}
	if spp != 1 {
		return Page{}, r.errf(pg, rig.ErrUnsupported, "%d samples per pixel, only grayscale (1) is read", spp)
	}
	if planar != 1 && planar != 2 {
		return Page{}, r.errf(pg, rig.ErrInvalid, "planar configuration %d, want 1 or 2", planar)
	}
	if photo > 1 {
		return Page{}, r.errf(pg, rig.ErrUnsupported, "photometric interpretation %d, only grayscale (0, 1) is read", photo)
	}
	if bps != 8 && bps != 16 {
		return Page{}, r.errf(pg, rig.ErrUnsupported, "%d bits per sample, only 8 and 16 are read", bps)
	}
	if sfmt != 1 && sfmt != 2 {
		return Page{}, r.errf(pg, rig.ErrUnsupported, "sample format %d, only unsigned (1) and signed (2) integers are read", sfmt)
	}
	if rps == 0 {
		return Page{}, r.errf(pg, rig.ErrInvalid, "RowsPerStrip is 0")
	}
	rps = min(rps, h)
	nStrips := (h + rps - 1) / rps
	oe, ok := es[tagStripOffsets]
	if !ok {
		return Page{}, r.errf(pg, rig.ErrInvalid, "no StripOffsets tag")
	}
	offs, err := r.uints(oe)
	if err != nil {
		return Page{}, r.errf(pg, rig.ErrInvalid, "StripOffsets: %v", err)
	}
	if uint64(len(offs)) != nStrips {
		return Page{}, r.errf(pg, rig.ErrInvalid, "%d strip offsets, want %d (%d rows, %d rows per strip)", len(offs), nStrips, h, rps)
	}
	var counts []uint64
	if ce, ok := es[tagStripByteCounts]; ok {
		if counts, err = r.uints(ce); err != nil {
			return Page{}, r.errf(pg, rig.ErrInvalid, "StripByteCounts: %v", err)
		}
		if len(counts) != len(offs) {
			return Page{}, r.errf(pg, rig.ErrInvalid, "%d strip byte counts for %d strips", len(counts), len(offs))
		}
	}
	bpp := bps / 8
	for i, o := range offs {
		rows := min(rps, h-uint64(i)*rps)
		need := rows * w * bpp
		if counts != nil && counts[i] < need {
			return Page{}, r.errf(pg, rig.ErrInvalid, "strip %d holds %d bytes, want %d (%d rows of %d %d-bit pixels)", i, counts[i], need, rows, w, bps)
		}
		if o > uint64(r.size) || need > uint64(r.size)-o {
			return Page{}, r.errf(pg, rig.ErrInvalid, "strip %d: %d bytes at offset %d run past the end of the file (%d bytes): truncated file", i, need, o, r.size)
		}
	}
	p.Width, p.Height, p.BitsPerSample = int(w), int(h), int(bps)
	p.Signed = sfmt == 2
	p.WhiteIsZero = photo == 0
	p.rowsPerStr = int(rps)
	p.offsets = offs
	p.counts = counts
	if de, ok := es[tagImageDescription]; ok {
		if de.typ != typeASCII && de.typ != typeByte && de.typ != typeUndefined {
			return Page{}, r.errf(pg, rig.ErrInvalid, "ImageDescription of field type %d, want ASCII (2)", de.typ)
		}
		if len(de.raw) > maxDescription {
			return Page{}, r.errf(pg, rig.ErrUnsupported, "ImageDescription of %d bytes exceeds %d", len(de.raw), maxDescription)
		}
		p.Description = strings.TrimRight(string(de.raw), "\x00")
	}
	return p, nil
}

// ReadPixels reads the page's samples, row by row from the top, into dst
// (grown if its capacity is below Width*Height) and returns it. 8-bit
// samples are widened; signed 16-bit samples keep their bit pattern (convert
// with int16(v)). It reads only this page's strips and may be called after
// the Reader has moved on.
func (p *Page) ReadPixels(dst []uint16) ([]uint16, error) {
	if p.r == nil {
		return nil, fmt.Errorf("tiff: ReadPixels on a Page not returned by Reader.Next: %w", rig.ErrState)
	}
	r := p.r
	n := p.Width * p.Height
	if cap(dst) < n {
		dst = make([]uint16, n)
	}
	dst = dst[:n]
	bpp := p.BitsPerSample / 8
	row := 0
	for i, off := range p.offsets {
		rows := min(p.rowsPerStr, p.Height-row)
		need := rows * p.Width * bpp
		if cap(r.scratch) < need {
			r.scratch = make([]byte, need)
		}
		b := r.scratch[:need]
		if err := r.readAt(b, off); err != nil {
			return nil, r.errf(p.Index, rig.ErrInvalid, "strip %d: %v", i, err)
		}
		out := dst[row*p.Width : (row+rows)*p.Width]
		if bpp == 1 {
			for j, v := range b {
				out[j] = uint16(v)
			}
		} else if r.order == binary.LittleEndian {
			for j := range out {
				out[j] = uint16(b[2*j]) | uint16(b[2*j+1])<<8
			}
		} else {
			for j := range out {
				out[j] = uint16(b[2*j])<<8 | uint16(b[2*j+1])
			}
		}
		row += rows
	}
	return dst, nil
}
