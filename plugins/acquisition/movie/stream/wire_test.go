package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

func testFrame(w, h int, seq uint64) Frame {
	pix := make([]uint16, w*h)
	for i := range pix {
		pix[i] = uint16(i*7919 + int(seq)*31)
	}
	return Frame{Width: w, Height: h, Channel: uint32(seq % 3), Seq: seq, SourceTime: time.Duration(seq)*33*time.Millisecond - time.Second, Pix: pix}
}

func encoded(t testing.TB, fs ...Frame) []byte {
	var b bytes.Buffer
	for _, f := range fs {
		require.NoError(t, Encode(&b, f))
	}
	return b.Bytes()
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		frames []Frame
	}{
		{"one pixel", []Frame{testFrame(1, 1, 0)}},
		{"several sizes", []Frame{testFrame(4, 3, 1), testFrame(3, 4, 2), testFrame(64, 2, 1<<63)}},
		{"max uint16 samples", []Frame{{Width: 2, Height: 1, Seq: 9, SourceTime: -5, Pix: []uint16{0xffff, 0x8000}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(bytes.NewReader(encoded(t, tt.frames...)), Limits{})
			var buf []uint16
			for _, want := range tt.frames {
				got, err := d.Next(buf)
				require.NoError(t, err)
				buf = got.Pix
				require.Equal(t, want, got)
			}
			_, err := d.Next(buf)
			require.ErrorIs(t, err, io.EOF)
		})
	}
}

func TestHeaderLayout(t *testing.T) {
	f := Frame{Width: 3, Height: 2, Channel: 7, Seq: 0x0102030405060708, SourceTime: -2, Pix: make([]uint16, 6)}
	f.Pix[0] = 0xABCD
	b := encoded(t, f)
	require.Len(t, b, HeaderSize+12)
	le := binary.LittleEndian
	require.Equal(t, "TRF1", string(b[0:4]))
	require.Equal(t, uint16(1), le.Uint16(b[4:]))
	require.Equal(t, uint16(16), le.Uint16(b[6:]))
	require.Equal(t, uint32(3), le.Uint32(b[8:]))
	require.Equal(t, uint32(2), le.Uint32(b[12:]))
	require.Equal(t, uint32(7), le.Uint32(b[16:]))
	require.Equal(t, uint32(12), le.Uint32(b[20:]))
	require.Equal(t, uint64(0x0102030405060708), le.Uint64(b[24:]))
	require.Equal(t, int64(-2), int64(le.Uint64(b[32:])))
	require.Equal(t, []byte{0xCD, 0xAB}, b[40:42])
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		want string
	}{
		{"zero width", Frame{Width: 0, Height: 2}, "0x2"},
		{"negative height", Frame{Width: 2, Height: -1}, "2x-1"},
		{"too wide", Frame{Width: 1<<16 + 1, Height: 1}, "65537x1"},
		{"short pix", Frame{Width: 2, Height: 2, Pix: make([]uint16, 3)}, "3 samples, want width*height = 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Encode(&b, tt.f)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, tt.want)
			require.Zero(t, b.Len(), "nothing written")
		})
	}
}

func TestDecoderRejects(t *testing.T) {
	good := encoded(t, testFrame(4, 2, 5))
	patch := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	tests := []struct {
		name  string
		in    []byte
		lim   Limits
		is    error
		field string
	}{
		{"bad magic", patch(0, 'G', 'E', 'T', ' '), Limits{}, rig.ErrInvalid, `magic is "GET "`},
		{"bad version", patch(4, 2, 0), Limits{}, rig.ErrInvalid, "version is 2, want 1"},
		{"bad bits", patch(6, 8, 0), Limits{}, rig.ErrInvalid, "bits per sample is 8, want 16"},
		{"zero width", patch(8, u32(0)...), Limits{}, rig.ErrInvalid, "width is 0, want 1 to 4096"},
		{"absurd width", patch(8, u32(1<<31)...), Limits{}, rig.ErrInvalid, "width is 2147483648, want 1 to 4096"},
		{"height over limit", good, Limits{MaxHeight: 1}, rig.ErrInvalid, "height is 2, want 1 to 1"},
		{"payload length mismatch", patch(20, u32(15)...), Limits{}, rig.ErrInvalid, "payload length is 15, want width*height*2 = 16"},
		{"truncated header", good[:HeaderSize-1], Limits{}, io.ErrUnexpectedEOF, "truncated header"},
		{"truncated payload", good[:len(good)-1], Limits{}, io.ErrUnexpectedEOF, "truncated payload, got 15 of 16 bytes"},
		{"header only", good[:HeaderSize], Limits{}, io.ErrUnexpectedEOF, "got 0 of 16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDecoder(bytes.NewReader(tt.in), tt.lim).Next(nil)
			require.ErrorIs(t, err, tt.is)
			require.ErrorContains(t, err, tt.field)
			require.False(t, errors.Is(err, io.EOF), "a malformed stream is not a clean end")
		})
	}
	_, err := NewDecoder(bytes.NewReader(nil), Limits{}).Next(nil)
	require.ErrorIs(t, err, io.EOF, "an empty stream ends cleanly")
}

func FuzzDecoder(f *testing.F) {
	f.Add(encoded(f, testFrame(2, 2, 0), testFrame(3, 1, 1)))
	f.Add(encoded(f, testFrame(1, 1, 7))[:HeaderSize+1])
	f.Add([]byte("TRF1garbage"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in), Limits{MaxWidth: 64, MaxHeight: 64})
		var out bytes.Buffer
		var buf []uint16
		for {
			fr, err := d.Next(buf)
			if err != nil {
				if errors.Is(err, io.EOF) {
					require.True(t, bytes.Equal(in, out.Bytes()), "a clean end means every byte was a frame")
				} else {
					require.True(t, errors.Is(err, rig.ErrInvalid) || errors.Is(err, io.ErrUnexpectedEOF), "unexpected error kind: %v", err)
					require.True(t, bytes.HasPrefix(in, out.Bytes()))
				}
				return
			}
			buf = fr.Pix
			require.LessOrEqual(t, fr.Width, 64)
			require.LessOrEqual(t, fr.Height, 64)
			require.Len(t, fr.Pix, fr.Width*fr.Height)
			require.NoError(t, Encode(&out, fr), "a decoded frame re-encodes")
			require.True(t, bytes.HasPrefix(in, out.Bytes()), "re-encoding gives the input bytes back")
		}
	})
}
