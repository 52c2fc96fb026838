package stream_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/stream"
)

// A microscope stand-in connects and sends two 2x2 frames; the Source yields
// them with their sequence numbers and timestamps.
func Example() {
	src, err := stream.Listen("tcp", "127.0.0.1:0", stream.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer src.Close()

	conn, err := net.Dial("tcp", src.Addr().String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	for seq := range uint64(2) {
		f := stream.Frame{Width: 2, Height: 2, Seq: seq, SourceTime: time.Duration(seq) * 33 * time.Millisecond,
			Pix: []uint16{1, 2, 3, uint16(seq)}}
		if err := stream.Encode(conn, f); err != nil {
			panic(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		f, err := src.NextFrame(ctx, nil)
		if err != nil {
			panic(err)
		}
		fmt.Println(f.Seq, f.SourceTime, f.Pix, !f.HostTime.IsZero())
	}
	fmt.Printf("%+v\n", src.Stats())
	// Output:
	// 0 0s [1 2 3 0] true
	// 1 33ms [1 2 3 1] true
	// {Frames:2 Gaps:0 Missing:0 Dropped:0 Errors:0 Connections:1 Reconnects:0}
}
