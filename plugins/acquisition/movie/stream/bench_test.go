package stream

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
)

const benchSide = 512

// repeatReader yields b over and over.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

// streamFrames writes 512x512 frames to c until writing fails.
func streamFrames(c net.Conn) {
	enc := NewEncoder(c)
	f := testFrame(benchSide, benchSide, 0)
	for ; ; f.Seq++ {
		if enc.Encode(f) != nil {
			return
		}
	}
}

func reportFrames(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkDecodeMemory decodes 512x512 frames from memory: the decoder's
// own cost, the baseline for the loopback figures.
func BenchmarkDecodeMemory(b *testing.B) {
	d := NewDecoder(&repeatReader{b: encoded(b, testFrame(benchSide, benchSide, 0))}, Limits{})
	b.SetBytes(HeaderSize + 2*benchSide*benchSide)
	b.ReportAllocs()
	var buf []uint16
	for b.Loop() {
		f, err := d.Next(buf)
		if err != nil {
			b.Fatal(err)
		}
		buf = f.Pix
	}
	reportFrames(b)
}

// BenchmarkDecodeLoopback decodes 512x512 frames streamed over loopback TCP
// by a sender going as fast as it can.
func BenchmarkDecodeLoopback(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		streamFrames(c)
	}()
	c, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	d := NewDecoder(bufio.NewReaderSize(c, 64<<10), Limits{})
	b.SetBytes(HeaderSize + 2*benchSide*benchSide)
	b.ReportAllocs()
	var buf []uint16
	for b.Loop() {
		f, err := d.Next(buf)
		if err != nil {
			b.Fatal(err)
		}
		buf = f.Pix
	}
	reportFrames(b)
}

// BenchmarkSourceLoopback receives 512x512 frames through a Source over
// loopback TCP (decode, checks, queue, copy into the caller's buffer).
// dropped/op counts frames the queue could not hold.
func BenchmarkSourceLoopback(b *testing.B) {
	s, err := Listen("tcp", "127.0.0.1:0", Options{Logger: quiet(), Queue: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	go streamFrames(c)
	b.SetBytes(HeaderSize + 2*benchSide*benchSide)
	b.ReportAllocs()
	ctx := context.Background()
	var buf []uint16
	for b.Loop() {
		f, err := s.NextFrame(ctx, buf)
		if err == io.EOF {
			b.Fatal("source closed")
		}
		if err != nil {
			b.Fatal(err)
		}
		buf = f.Pix
	}
	reportFrames(b)
	b.ReportMetric(float64(s.Stats().Dropped)/float64(b.N), "dropped/op")
}
