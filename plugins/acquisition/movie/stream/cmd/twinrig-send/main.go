// Command twinrig-send streams a TIFF or BigTIFF movie to a running
// acquisition listening for a live microscope (package stream), at the
// given frame rate in wall time, as a microscope would.
//
// Usage:
//
//	twinrig-send [-addr tcp://localhost:5555] [-rate 30] [-channel 0] [-frames 0] movie.tif
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/stream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		slog.Error("twinrig-send", "err", err)
		os.Exit(1)
	}
}

// run parses args (without the program name) and streams the movie; usage
// goes to stderr.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	flags := flag.NewFlagSet("twinrig-send", flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("addr", "tcp://localhost:5555", "where the acquisition listens: tcp://host:port, unix:///path or host:port")
	rate := flags.Float64("rate", 30, "frame rate in frames/s of wall time; also dates pages without a ScanImage timestamp")
	channel := flags.Uint("channel", 0, "channel/plane index put on every frame")
	frames := flags.Int("frames", 0, "stop after that many frames (0: the whole movie)")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: twinrig-send [flags] movie.tif\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return fmt.Errorf("want one TIFF file, got %d arguments", flags.NArg())
	}
	network, address, err := stream.ParseAddr(*addr)
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return err
	}
	defer conn.Close()
	start := time.Now()
	opts := stream.SendOptions{Rate: *rate, Channel: uint32(*channel), MaxFrames: *frames}
	if err := stream.SendTIFF(ctx, conn, flags.Arg(0), opts); err != nil {
		return err
	}
	slog.Info("twinrig-send: done", "file", flags.Arg(0), "addr", *addr, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}
