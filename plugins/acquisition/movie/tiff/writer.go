package tiff

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/twinrig/twinrig/rig"
)

// WriterOptions choose the container the Writer produces.
type WriterOptions struct {
	// BigTIFF writes a BigTIFF (magic 43, 64-bit offsets) instead of a
	// classic TIFF.
	BigTIFF bool
	// ByteOrder is binary.LittleEndian ("II", the default when nil) or
	// binary.BigEndian ("MM").
	ByteOrder binary.ByteOrder
	// RowsPerStrip splits each page into strips of that many rows; 0 writes
	// one strip per page.
	RowsPerStrip int
}

// WritePage is one page for the Writer.
type WritePage struct {
	// Width and Height are the image size in pixels; len(Pix) must be
	// Width*Height.
	Width, Height int
	// BitsPerSample is 8 or 16. With 8, every value of Pix must fit a byte.
	BitsPerSample int
	// Signed marks the samples as two's-complement (SampleFormat 2).
	Signed bool
	// Pix holds the samples row by row from the top (bit patterns for
	// signed data).
	Pix []uint16
	// Description is written as the page's ImageDescription when not empty.
	Description string
}

// Writer writes a multi-page TIFF one page at a time. It holds at most one
// encoded page in memory: a page is written out when the next one arrives
// or at Close, once the offset of the following directory is known. It is
// not safe for concurrent use.
type Writer struct {
	w       io.Writer
	opt     WriterOptions
	order   byteOrder
	off     uint64 // bytes written so far
	pending []byte // the last page's block, its next-IFD offset unset
	nextAt  int    // position of that offset inside pending
	closed  bool
}

// NewWriter writes the TIFF header to w and returns a Writer.
func NewWriter(w io.Writer, opt WriterOptions) (*Writer, error) {
	if opt.ByteOrder == nil {
		opt.ByteOrder = binary.LittleEndian
	}
	if opt.RowsPerStrip < 0 {
		return nil, fmt.Errorf("tiff writer: RowsPerStrip %d, want >= 0: %w", opt.RowsPerStrip, rig.ErrInvalid)
	}
	tw := &Writer{w: w, opt: opt}
	var h []byte
	switch opt.ByteOrder {
	case binary.LittleEndian:
		tw.order = binary.LittleEndian
	case binary.BigEndian:
		tw.order = binary.BigEndian
	default:
		return nil, fmt.Errorf("tiff writer: byte order %v, want binary.LittleEndian or binary.BigEndian: %w", opt.ByteOrder, rig.ErrInvalid)
	}
	if tw.order == binary.BigEndian {
		h = append(h, 'M', 'M')
	} else {
		h = append(h, 'I', 'I')
	}
	if opt.BigTIFF {
		h = tw.order.AppendUint16(h, 43)
		h = tw.order.AppendUint16(h, 8)
		h = tw.order.AppendUint16(h, 0)
		h = tw.order.AppendUint64(h, 16)
	} else {
		h = tw.order.AppendUint16(h, 42)
		h = tw.order.AppendUint32(h, 8)
	}
	if _, err := w.Write(h); err != nil {
		return nil, fmt.Errorf("tiff writer: header: %w", err)
	}
	tw.off = uint64(len(h))
	return tw, nil
}

// byteOrder is what binary.LittleEndian and binary.BigEndian both are.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// wentry is one directory entry to write.
type wentry struct {
	tag, typ uint16
	count    uint64
	vals     []byte // encoded values
}

// WritePage appends one page.
func (tw *Writer) WritePage(p WritePage) error {
	if tw.closed {
		return fmt.Errorf("tiff writer: WritePage after Close: %w", rig.ErrState)
	}
	if p.Width <= 0 || p.Height <= 0 || len(p.Pix) != p.Width*p.Height {
		return fmt.Errorf("tiff writer: page %dx%d with %d samples, want width, height > 0 and width*height samples: %w",
			p.Width, p.Height, len(p.Pix), rig.ErrInvalid)
	}
	if p.BitsPerSample != 8 && p.BitsPerSample != 16 {
		return fmt.Errorf("tiff writer: %d bits per sample, want 8 or 16: %w", p.BitsPerSample, rig.ErrInvalid)
	}
	if err := tw.flush(false); err != nil {
		return err
	}
	bpp := p.BitsPerSample / 8
	rps := tw.opt.RowsPerStrip
	if rps == 0 || rps > p.Height {
		rps = p.Height
	}
	nStrips := (p.Height + rps - 1) / rps

	big := tw.opt.BigTIFF
	offType, cntSize, entSize, offSize := uint16(typeLong), 2, 12, 4
	if big {
		offType, cntSize, entSize, offSize = typeLong8, 8, 20, 8
	}
	sf := uint64(1)
	if p.Signed {
		sf = 2
	}
	short := func(tag uint16, v uint64) wentry {
		return wentry{tag: tag, typ: typeShort, count: 1, vals: tw.order.AppendUint16(nil, uint16(v))}
	}
	long := func(tag uint16, v uint64) wentry {
		return wentry{tag: tag, typ: typeLong, count: 1, vals: tw.order.AppendUint32(nil, uint32(v))}
	}
	entries := []wentry{
		long(tagImageWidth, uint64(p.Width)),
		long(tagImageLength, uint64(p.Height)),
		short(tagBitsPerSample, uint64(p.BitsPerSample)),
		short(tagCompression, 1),
		short(tagPhotometric, 1),
	}
	if p.Description != "" {
		d := append([]byte(p.Description), 0)
		entries = append(entries, wentry{tag: tagImageDescription, typ: typeASCII, count: uint64(len(d)), vals: d})
	}
	stripOffIdx := len(entries)
	entries = append(entries, wentry{tag: tagStripOffsets, typ: offType, count: uint64(nStrips)})
	entries = append(entries, short(tagSamplesPerPixel, 1), long(tagRowsPerStrip, uint64(rps)))
	var counts []byte
	for i := range nStrips {
		rows := min(rps, p.Height-i*rps)
		n := uint64(rows * p.Width * bpp)
		if big {
			counts = tw.order.AppendUint64(counts, n)
		} else {
			counts = tw.order.AppendUint32(counts, uint32(n))
		}
	}
	entries = append(entries, wentry{tag: tagStripByteCounts, typ: offType, count: uint64(nStrips), vals: counts},
		short(tagPlanarConfig, 1), short(tagSampleFormat, sf))

	// Layout: IFD, then out-of-line values, then pixel data.
	ifdLen := cntSize + len(entries)*entSize + offSize
	extra := 0
	for i, e := range entries {
		if i == stripOffIdx {
			if nStrips > 1 {
				extra += nStrips * offSize
			}
			continue
		}
		if len(e.vals) > offSize {
			extra += len(e.vals) + len(e.vals)%2
		}
	}
	base := tw.off
	dataAt := base + uint64(ifdLen+extra)
	var offs []byte
	for i := range nStrips {
		o := dataAt + uint64(i*rps*p.Width*bpp)
		if big {
			offs = tw.order.AppendUint64(offs, o)
		} else {
			offs = tw.order.AppendUint32(offs, uint32(o))
		}
	}
	entries[stripOffIdx].vals = offs

	block := make([]byte, 0, ifdLen+extra+len(p.Pix)*bpp)
	if big {
		block = tw.order.AppendUint64(block, uint64(len(entries)))
	} else {
		block = tw.order.AppendUint16(block, uint16(len(entries)))
	}
	var ext []byte
	extAt := base + uint64(ifdLen)
	for _, e := range entries {
		block = tw.order.AppendUint16(block, e.tag)
		block = tw.order.AppendUint16(block, e.typ)
		if big {
			block = tw.order.AppendUint64(block, e.count)
		} else {
			block = tw.order.AppendUint32(block, uint32(e.count))
		}
		if len(e.vals) <= offSize {
			v := make([]byte, offSize)
			copy(v, e.vals)
			block = append(block, v...)
			continue
		}
		at := extAt + uint64(len(ext))
		if big {
			block = tw.order.AppendUint64(block, at)
		} else {
			block = tw.order.AppendUint32(block, uint32(at))
		}
		ext = append(ext, e.vals...)
		if len(e.vals)%2 == 1 {
			ext = append(ext, 0) // word alignment
		}
	}
	nextAt := len(block)
	block = append(block, make([]byte, offSize)...)
	block = append(block, ext...)
	for _, v := range p.Pix {
		switch {
		case bpp == 1:
			block = append(block, byte(v))
		default:
			block = tw.order.AppendUint16(block, v)
		}
	}
	if !big && base+uint64(len(block)) > 1<<32-1 {
		return fmt.Errorf("tiff writer: page would end at byte %d, past the 4 GiB limit of a classic TIFF (use BigTIFF): %w",
			base+uint64(len(block)), rig.ErrInvalid)
	}
	tw.pending, tw.nextAt = block, nextAt
	return nil
}

// flush writes the pending page; last leaves its next-IFD offset at 0.
func (tw *Writer) flush(last bool) error {
	if tw.pending == nil {
		return nil
	}
	next := tw.off + uint64(len(tw.pending))
	if next%2 == 1 {
		tw.pending = append(tw.pending, 0) // IFDs start on a word boundary
		next++
	}
	if last {
		next = 0
	}
	if tw.opt.BigTIFF {
		tw.order.PutUint64(tw.pending[tw.nextAt:], next)
	} else {
		tw.order.PutUint32(tw.pending[tw.nextAt:], uint32(next))
	}
	if _, err := tw.w.Write(tw.pending); err != nil {
		return fmt.Errorf("tiff writer: writing a page at offset %d: %w", tw.off, err)
	}
	tw.off += uint64(len(tw.pending))
	tw.pending = nil
	return nil
}

// Close writes the last page. It does not close the underlying io.Writer.
// A file needs at least one page.
func (tw *Writer) Close() error {
	if tw.closed {
		return nil
	}
	tw.closed = true
	if tw.pending == nil {
		return fmt.Errorf("tiff writer: Close with no page written: %w", rig.ErrState)
	}
	return tw.flush(true)
}
