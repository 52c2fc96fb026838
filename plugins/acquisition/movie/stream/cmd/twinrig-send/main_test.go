package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/stream"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/tiff"
)

func TestRunStreamsMovie(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.tif")
	f, err := os.Create(path)
	require.NoError(t, err)
	tw, err := tiff.NewWriter(f, tiff.WriterOptions{})
	require.NoError(t, err)
	for i := range 4 {
		pix := []uint16{uint16(i), 1, 2, 3, 4, 5}
		require.NoError(t, tw.WritePage(tiff.WritePage{Width: 3, Height: 2, BitsPerSample: 16, Pix: pix,
			Description: fmt.Sprintf("frameTimestamps_sec = %d.5\n", i)}))
	}
	require.NoError(t, tw.Close())
	require.NoError(t, f.Close())

	src, err := stream.Listen("tcp", "127.0.0.1:0", stream.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer src.Close()
	addr := "tcp://" + src.Addr().String()
	require.NoError(t, run(t.Context(), []string{"-addr", addr, "-rate", "1000", "-frames", "3", path}, io.Discard))

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		fr, err := src.NextFrame(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, uint64(i), fr.Seq)
		require.Equal(t, uint16(i), fr.Pix[0])
		require.Equal(t, time.Duration(i)*time.Second+500*time.Millisecond, fr.SourceTime)
	}
	require.Equal(t, uint64(3), src.Stats().Frames)
}

func TestRunRejectsArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{}, "want one TIFF file, got 0"},
		{"bad network", []string{"-addr", "udp://x:1", "m.tif"}, `network "udp"`},
		{"bad flag", []string{"-speed", "2", "m.tif"}, "-speed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, run(t.Context(), tt.args, io.Discard), tt.want)
		})
	}
}
