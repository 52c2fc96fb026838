package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// Wire constants. A frame on the wire is a HeaderSize-byte little-endian
// header followed by Width*Height uint16 samples, little-endian, row by row
// from the top. The header fields, in order:
//
//	offset size type     field
//	0      4    char[4]  magic "TRF1"
//	4      2    uint16   version (1)
//	6      2    uint16   bits per sample (16)
//	8      4    uint32   width in pixels
//	12     4    uint32   height in pixels
//	16     4    uint32   channel/plane index
//	20     4    uint32   payload length in bytes (= width*height*2)
//	24     8    uint64   sequence number
//	32     8    int64    source timestamp in nanoseconds
const (
	Magic         = "TRF1"
	Version       = 1
	BitsPerSample = 16
	HeaderSize    = 40
)

// DefaultMaxSide is the width and height limit a zero Limits field means.
const DefaultMaxSide = 4096

// Frame is one frame of the stream.
type Frame struct {
	// Width and Height are the frame size in pixels (> 0).
	Width, Height int
	// Channel is the channel or plane index the sender put on the frame.
	Channel uint32
	// Seq is the sender's sequence number; it should grow by 1 per frame.
	Seq uint64
	// SourceTime is the sender's timestamp of the frame (ScanImage's
	// frameTimestamps_sec, for instance), as a duration since the sender's
	// epoch.
	SourceTime time.Duration
	// HostTime is when the receiving Source had the whole frame, on the
	// host clock. It is not on the wire: Encode ignores it and Decoder
	// leaves it zero.
	HostTime time.Time
	// Pix holds Width*Height samples row by row from the top.
	Pix []uint16
}

// Limits bound what a Decoder accepts, so that a corrupt header cannot make
// it allocate gigabytes. A zero field means DefaultMaxSide.
type Limits struct {
	MaxWidth, MaxHeight int
}

func (l Limits) orDefault() Limits {
	if l.MaxWidth <= 0 {
		l.MaxWidth = DefaultMaxSide
	}
	if l.MaxHeight <= 0 {
		l.MaxHeight = DefaultMaxSide
	}
	return l
}

func putHeader(b []byte, f Frame) {
	copy(b[0:4], Magic)
	le := binary.LittleEndian
	le.PutUint16(b[4:], Version)
	le.PutUint16(b[6:], BitsPerSample)
	le.PutUint32(b[8:], uint32(f.Width))
	le.PutUint32(b[12:], uint32(f.Height))
	le.PutUint32(b[16:], f.Channel)
	le.PutUint32(b[20:], uint32(2*f.Width*f.Height))
	le.PutUint64(b[24:], f.Seq)
	le.PutUint64(b[32:], uint64(f.SourceTime))
}

func checkFrame(f Frame) error {
	if f.Width <= 0 || f.Height <= 0 || f.Width > 1<<16 || f.Height > 1<<16 {
		return fmt.Errorf("stream: frame %d is %dx%d, want sides in [1, 65536]: %w", f.Seq, f.Width, f.Height, rig.ErrInvalid)
	}
	if uint64(f.Width)*uint64(f.Height)*2 > 1<<32-1 {
		return fmt.Errorf("stream: frame %d is %dx%d, its payload does not fit the uint32 length field: %w", f.Seq, f.Width, f.Height, rig.ErrInvalid)
	}
	if len(f.Pix) != f.Width*f.Height {
		return fmt.Errorf("stream: frame %d has %d samples, want width*height = %d: %w", f.Seq, len(f.Pix), f.Width*f.Height, rig.ErrInvalid)
	}
	return nil
}

// Encode writes f (header and payload) to w in one Write. f.HostTime is not
// sent. A frame whose Pix does not hold Width*Height samples is an error and
// nothing is written.
func Encode(w io.Writer, f Frame) error {
	var e Encoder
	e.w = w
	return e.Encode(f)
}

// Encoder writes frames to one writer, reusing its buffer between frames.
// It is not safe for concurrent use.
type Encoder struct {
	w   io.Writer
	buf []byte
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w} }

// Encode writes f as Encode does.
func (e *Encoder) Encode(f Frame) error {
	if err := checkFrame(f); err != nil {
		return err
	}
	n := HeaderSize + 2*len(f.Pix)
	if cap(e.buf) < n {
		e.buf = make([]byte, n)
	}
	b := e.buf[:n]
	putHeader(b, f)
	p := b[HeaderSize:]
	for i, v := range f.Pix {
		binary.LittleEndian.PutUint16(p[2*i:], v)
	}
	if _, err := e.w.Write(b); err != nil {
		return fmt.Errorf("stream: writing frame %d: %w", f.Seq, err)
	}
	return nil
}

// Decoder reads frames from a byte stream. It is not safe for concurrent
// use. After any error other than io.EOF the stream is out of step and the
// Decoder must not be used again: the wire format has no resynchronisation,
// so the connection is dropped instead.
type Decoder struct {
	r   io.Reader
	lim Limits
	hdr [HeaderSize]byte
	buf []byte
}

// NewDecoder returns a Decoder reading r, refusing frames beyond lim.
func NewDecoder(r io.Reader, lim Limits) *Decoder {
	return &Decoder{r: r, lim: lim.orDefault()}
}

// Next reads the next frame, its samples into dst (grown if needed; the
// returned Frame.Pix aliases it). It returns io.EOF when the stream ends
// cleanly between frames. Every other problem is an error naming the field
// and its value: a bad magic, version or bits per sample, a width or height
// of 0 or beyond the limits, or a payload length other than width*height*2
// wrap rig.ErrInvalid; a stream cut inside a frame wraps
// io.ErrUnexpectedEOF. It never panics on any input.
func (d *Decoder) Next(dst []uint16) (Frame, error) {
	if _, err := io.ReadFull(d.r, d.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fmt.Errorf("stream: truncated header: %w", err)
		}
		if err == io.EOF {
			return Frame{}, io.EOF
		}
		return Frame{}, fmt.Errorf("stream: reading header: %w", err)
	}
	f, n, err := d.parseHeader()
	if err != nil {
		return Frame{}, err
	}
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	b := d.buf[:n]
	if got, err := io.ReadFull(d.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("stream: frame %d: truncated payload, got %d of %d bytes: %w", f.Seq, got, n, err)
	}
	npix := f.Width * f.Height
	if cap(dst) < npix {
		dst = make([]uint16, npix)
	}
	dst = dst[:npix]
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	f.Pix = dst
	return f, nil
}

func (d *Decoder) parseHeader() (Frame, int, error) {
	h := d.hdr[:]
	le := binary.LittleEndian
	if string(h[0:4]) != Magic {
		return Frame{}, 0, fmt.Errorf("stream: header field magic is %q, want %q: %w", h[0:4], Magic, rig.ErrInvalid)
	}
	if v := le.Uint16(h[4:]); v != Version {
		return Frame{}, 0, fmt.Errorf("stream: header field version is %d, want %d: %w", v, Version, rig.ErrInvalid)
	}
	if v := le.Uint16(h[6:]); v != BitsPerSample {
		return Frame{}, 0, fmt.Errorf("stream: header field bits per sample is %d, want %d: %w", v, BitsPerSample, rig.ErrInvalid)
	}
	w, ht := le.Uint32(h[8:]), le.Uint32(h[12:])
	f := Frame{
		Channel:    le.Uint32(h[16:]),
		Seq:        le.Uint64(h[24:]),
		SourceTime: time.Duration(int64(le.Uint64(h[32:]))),
	}
	if w == 0 || uint64(w) > uint64(d.lim.MaxWidth) {
		return Frame{}, 0, fmt.Errorf("stream: frame %d: header field width is %d, want 1 to %d: %w", f.Seq, w, d.lim.MaxWidth, rig.ErrInvalid)
	}
	if ht == 0 || uint64(ht) > uint64(d.lim.MaxHeight) {
		return Frame{}, 0, fmt.Errorf("stream: frame %d: header field height is %d, want 1 to %d: %w", f.Seq, ht, d.lim.MaxHeight, rig.ErrInvalid)
	}
	want := uint64(w) * uint64(ht) * 2
	if n := le.Uint32(h[20:]); uint64(n) != want {
		return Frame{}, 0, fmt.Errorf("stream: frame %d: header field payload length is %d, want width*height*2 = %d: %w", f.Seq, n, want, rig.ErrInvalid)
	}
	f.Width, f.Height = int(w), int(ht)
	return f, int(want), nil
}
