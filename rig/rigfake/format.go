package rigfake

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// magic starts a recording file: 7 bytes and the format version.
const magic = "TWRGREC\x01"

// maxRecord bounds one record's payload (a frame of 16384 x 16384 pixels
// fits).
const maxRecord = 1 << 28

// record tags
const (
	tagStimulus    = 'S'
	tagAcquisition = 'A'
	tagBlock       = 'B'
	tagFrame       = 'F'
	tagScan        = 'C'
)

// blockHeader is a block record's JSON.
type blockHeader struct {
	ID       string    `json:"id"`
	Spec     string    `json:"spec"`
	Sequence bool      `json:"sequence"`
	Frames   int       `json:"frames"`
	Width    int       `json:"width"`
	Height   int       `json:"height"`
	Clock    rig.Clock `json:"clock"`
	StartNs  int64     `json:"start_ns"`
	Shown    int       `json:"shown"`
	Dropped  int       `json:"dropped"`
	Err      string    `json:"err"`
}

// Encode writes rec to w in the recording file format (see the package
// documentation). Information that JSON cannot hold (a NaN rate) wraps
// rig.ErrInvalid.
func Encode(w io.Writer, rec *Recording) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(magic); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	var payload []byte
	put := func(tag byte) error {
		var n [binary.MaxVarintLen64 + 1]byte
		n[0] = tag
		k := binary.PutUvarint(n[1:], uint64(len(payload)))
		if _, err := bw.Write(n[:1+k]); err != nil {
			return fmt.Errorf("recording: %w", err)
		}
		if _, err := bw.Write(payload); err != nil {
			return fmt.Errorf("recording: %w", err)
		}
		return nil
	}
	putJSON := func(tag byte, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("recording: record %q: %v: %w", tag, err, rig.ErrInvalid)
		}
		payload = b
		return put(tag)
	}
	if !isZeroStimulusInfo(rec.Stimulus) {
		if err := putJSON(tagStimulus, rec.Stimulus); err != nil {
			return err
		}
	}
	if !isZeroAcquisitionInfo(rec.Acquisition) {
		if err := putJSON(tagAcquisition, rec.Acquisition); err != nil {
			return err
		}
	}
	for _, b := range rec.Blocks {
		if err := putJSON(tagBlock, blockHeader{ID: b.ID, Spec: string(b.Spec), Sequence: b.Sequence, Frames: b.Frames,
			Width: b.Width, Height: b.Height, Clock: b.Clock, StartNs: int64(b.Start),
			Shown: b.Response.Shown, Dropped: b.Response.Dropped, Err: b.Err}); err != nil {
			return err
		}
		for _, f := range b.Shown {
			payload = binary.AppendVarint(payload[:0], f.Index)
			payload = binary.AppendVarint(payload, int64(f.Time))
			payload = append(payload, boolByte(f.Dropped))
			payload = binary.AppendVarint(payload, int64(f.Frame.Width))
			payload = binary.AppendVarint(payload, int64(f.Frame.Height))
			payload = binary.AppendUvarint(payload, uint64(len(f.Frame.Pixels)))
			payload = append(payload, f.Frame.Pixels...)
			if err := put(tagFrame); err != nil {
				return err
			}
		}
	}
	for _, s := range rec.Scans {
		payload = binary.AppendVarint(payload[:0], s.Index)
		payload = binary.AppendVarint(payload, int64(s.Time))
		payload = binary.AppendVarint(payload, int64(s.SourceTime))
		if s.HostTime.IsZero() {
			payload = append(payload, 0)
		} else {
			payload = append(payload, 1)
			payload = binary.AppendVarint(payload, s.HostTime.UnixNano())
		}
		for _, v := range []float32{s.Behaviour.PupilX, s.Behaviour.PupilY, s.Behaviour.PupilRadius, s.Behaviour.Treadmill} {
			payload = binary.LittleEndian.AppendUint32(payload, math.Float32bits(v))
		}
		payload = binary.AppendUvarint(payload, uint64(len(s.Values)))
		for _, v := range s.Values {
			payload = binary.LittleEndian.AppendUint32(payload, math.Float32bits(v))
		}
		if err := put(tagScan); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	return nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func isZeroStimulusInfo(i rig.StimulusInfo) bool {
	return i.Name == "" && i.Families == nil && i.RefreshRateHz == 0 && !i.Display && !i.Renders && !i.Sequences
}

func isZeroAcquisitionInfo(i rig.AcquisitionInfo) bool {
	return i.Name == "" && i.Neurons == 0 && i.NeuronIDs == nil && i.ImagingRateHz == 0 &&
		!i.Simulated && !i.Offline && !i.IgnoresFrames && !i.TellsTruth
}

// Decode reads a recording written by Encode. A malformed file wraps
// rig.ErrInvalid and names the offending record (counted from 0).
func Decode(r io.Reader) (*Recording, error) {
	br := bufio.NewReader(r)
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, fmt.Errorf("recording: header: %v: %w", err, rig.ErrInvalid)
	}
	if string(head[:len(magic)-1]) != magic[:len(magic)-1] {
		return nil, fmt.Errorf("recording: not a twinrig recording (header %q): %w", head, rig.ErrInvalid)
	}
	if head[len(magic)-1] != magic[len(magic)-1] {
		return nil, fmt.Errorf("recording: format version %d, want %d: %w", head[len(magic)-1], magic[len(magic)-1], rig.ErrInvalid)
	}
	rec := &Recording{}
	var sawStimulus, sawAcquisition bool
	for i := 0; ; i++ {
		tag, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return rec, nil
		}
		if err != nil {
			return nil, fmt.Errorf("recording: record %d: %w", i, err)
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("recording: record %d (%q): %s: %w", i, tag, fmt.Sprintf(format, args...), rig.ErrInvalid)
		}
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, bad("length: %v", err)
		}
		if n > maxRecord {
			return nil, bad("length %d, want at most %d", n, maxRecord)
		}
		payload, err := io.ReadAll(io.LimitReader(br, int64(n)))
		if err != nil {
			return nil, fmt.Errorf("recording: record %d: %w", i, err)
		}
		if uint64(len(payload)) != n {
			return nil, bad("%d of %d bytes: %v", len(payload), n, io.ErrUnexpectedEOF)
		}
		switch tag {
		case tagStimulus:
			if sawStimulus {
				return nil, bad("a second stimulus info")
			}
			sawStimulus = true
			if err := json.Unmarshal(payload, &rec.Stimulus); err != nil {
				return nil, bad("%v", err)
			}
		case tagAcquisition:
			if sawAcquisition {
				return nil, bad("a second acquisition info")
			}
			sawAcquisition = true
			if err := json.Unmarshal(payload, &rec.Acquisition); err != nil {
				return nil, bad("%v", err)
			}
		case tagBlock:
			var h blockHeader
			if err := json.Unmarshal(payload, &h); err != nil {
				return nil, bad("%v", err)
			}
			b := Block{ID: h.ID, Sequence: h.Sequence, Frames: h.Frames, Width: h.Width, Height: h.Height,
				Clock: h.Clock, Start: time.Duration(h.StartNs), Response: rig.PresentResponse{Shown: h.Shown, Dropped: h.Dropped}, Err: h.Err}
			if h.Spec != "" {
				b.Spec = json.RawMessage(h.Spec)
			}
			rec.Blocks = append(rec.Blocks, b)
		case tagFrame:
			if len(rec.Blocks) == 0 {
				return nil, bad("a frame before any block")
			}
			f, err := decodeFrame(payload)
			if err != nil {
				return nil, bad("%v", err)
			}
			b := &rec.Blocks[len(rec.Blocks)-1]
			b.Shown = append(b.Shown, f)
		case tagScan:
			s, err := decodeScan(payload)
			if err != nil {
				return nil, bad("%v", err)
			}
			rec.Scans = append(rec.Scans, s)
		default:
			return nil, bad("unknown tag")
		}
	}
}

// reader reads the fields of one payload.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", what, io.ErrUnexpectedEOF)
	}
}

func (r *reader) varint(what string) int64 {
	v, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *reader) uvarint(what string) uint64 {
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *reader) byte(what string) byte {
	if len(r.b) < 1 {
		r.fail(what)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) flag(what string) bool {
	switch v := r.byte(what); v {
	case 0:
		return false
	case 1:
		return true
	default:
		if r.err == nil {
			r.err = fmt.Errorf("%s: byte %d, want 0 or 1", what, v)
		}
		return false
	}
}

func (r *reader) float32(what string) float32 {
	if len(r.b) < 4 {
		r.fail(what)
		return 0
	}
	v := math.Float32frombits(binary.LittleEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v
}

// count reads a uvarint count of items of size bytes each that must fit
// in what is left.
func (r *reader) count(what string, size int) int {
	n := r.uvarint(what)
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.b)/size) {
		r.err = fmt.Errorf("%s: %d, but %d bytes are left", what, n, len(r.b))
		return 0
	}
	return int(n)
}

// done reports the first error, or bytes left over.
func (r *reader) done() error {
	if r.err == nil && len(r.b) > 0 {
		return fmt.Errorf("%d bytes left over", len(r.b))
	}
	return r.err
}

func decodeFrame(p []byte) (rig.ShownFrame, error) {
	r := &reader{b: p}
	var f rig.ShownFrame
	f.Index = r.varint("index")
	f.Time = time.Duration(r.varint("time"))
	f.Dropped = r.flag("dropped")
	f.Frame.Width = int(r.varint("width"))
	f.Frame.Height = int(r.varint("height"))
	if n := r.count("pixel count", 1); n > 0 {
		f.Frame.Pixels = bytes.Clone(r.b[:n])
		r.b = r.b[n:]
	}
	return f, r.done()
}

func decodeScan(p []byte) (rig.Scan, error) {
	r := &reader{b: p}
	var s rig.Scan
	s.Index = r.varint("index")
	s.Time = time.Duration(r.varint("time"))
	s.SourceTime = time.Duration(r.varint("source time"))
	if r.flag("host time flag") {
		s.HostTime = time.Unix(0, r.varint("host time"))
	}
	s.Behaviour.PupilX = r.float32("pupil x")
	s.Behaviour.PupilY = r.float32("pupil y")
	s.Behaviour.PupilRadius = r.float32("pupil radius")
	s.Behaviour.Treadmill = r.float32("treadmill")
	if n := r.count("value count", 4); n > 0 {
		s.Values = make([]float32, n)
		for i := range s.Values {
			s.Values[i] = r.float32("value")
		}
	}
	return s, r.done()
}

// WriteFile writes rec to the file at path (see Encode), replacing it.
func WriteFile(path string, rec *Recording) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	if err := Encode(f, rec); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	return nil
}

// ReadFile reads the recording at path (see Decode).
func ReadFile(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	defer f.Close()
	rec, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}
