package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/tiff"
	"github.com/twinrig/twinrig/rig"
)

// testTimeout bounds every wait in these tests so that a bug fails a test
// instead of hanging it; no test asserts on timing.
const testTimeout = 20 * time.Second

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func listen(t *testing.T, opts Options) *Source {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	s, err := Listen("tcp", "127.0.0.1:0", opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t *testing.T, s *Source) net.Conn {
	t.Helper()
	c, err := net.Dial(s.Addr().Network(), s.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func next(t *testing.T, s *Source) Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	f, err := s.NextFrame(ctx, nil)
	require.NoError(t, err)
	return f
}

// waitClosedByPeer blocks until the Source has closed c's other end.
func waitClosedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(testTimeout)))
	_, err := io.Copy(io.Discard, c)
	// A close with unread bytes may reach us as a reset rather than EOF.
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the Source closes the connection before the deadline")
}

// writeMovie writes a TIFF of n w x h pages; with stamps, each page has a
// ScanImage frameTimestamps_sec of 0.25 + i/10.
func writeMovie(t *testing.T, n, w, h int, stamps bool) (string, []Frame) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "movie.tif")
	f, err := os.Create(path)
	require.NoError(t, err)
	tw, err := tiff.NewWriter(f, tiff.WriterOptions{})
	require.NoError(t, err)
	var want []Frame
	for i := range n {
		fr := testFrame(w, h, uint64(i))
		p := tiff.WritePage{Width: w, Height: h, BitsPerSample: 16, Pix: fr.Pix}
		if stamps {
			p.Description = fmt.Sprintf("frameNumbers = %d\nframeTimestamps_sec = %.3f\n", i+1, 0.25+float64(i)/10)
			fr.SourceTime = time.Duration((0.25 + float64(i)/10) * float64(time.Second))
		}
		fr.Channel = 2
		want = append(want, fr)
		require.NoError(t, tw.WritePage(p))
	}
	require.NoError(t, tw.Close())
	require.NoError(t, f.Close())
	return path, want
}

func TestSendTIFFToSource(t *testing.T) {
	const rate = 2000.0
	tests := []struct {
		name    string
		network string
		stamps  bool
	}{
		{"tcp, ScanImage timestamps", "tcp", true},
		{"tcp, index over rate", "tcp", false},
		{"unix socket", "unix", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, want := writeMovie(t, 9, 6, 4, tt.stamps)
			if !tt.stamps {
				for i := range want {
					want[i].SourceTime = time.Duration(float64(i) / rate * float64(time.Second))
				}
			}
			addr := "127.0.0.1:0"
			if tt.network == "unix" {
				dir, err := os.MkdirTemp("", "trf")
				require.NoError(t, err)
				t.Cleanup(func() { os.RemoveAll(dir) })
				addr = filepath.Join(dir, "s.sock")
			}
			s, err := Listen(tt.network, addr, Options{Logger: quiet()})
			require.NoError(t, err)
			defer s.Close()
			c := dial(t, s)
			sent := make(chan error, 1)
			go func() {
				sent <- SendTIFF(t.Context(), c, path, SendOptions{Rate: rate, Channel: 2, FirstSeq: 0})
			}()
			var buf []uint16
			var lastHost time.Time
			for i, w := range want {
				pix, ts, err := s.Next(buf)
				require.NoError(t, err, "frame %d", i)
				buf = pix
				require.Equal(t, w.Pix, pix, "frame %d pixels", i)
				require.Equal(t, w.SourceTime, ts, "frame %d source time", i)
				last, ok := s.Last()
				require.True(t, ok)
				require.Equal(t, uint64(i), last.Seq)
				require.Equal(t, w.Channel, last.Channel)
				require.Nil(t, last.Pix)
				require.False(t, last.HostTime.Before(lastHost), "host time never goes back")
				lastHost = last.HostTime
			}
			require.NoError(t, <-sent)
			w, h := s.Size()
			require.Equal(t, [2]int{6, 4}, [2]int{w, h})
			require.Equal(t, Stats{Frames: 9, Connections: 1}, s.Stats())
		})
	}
}

func TestWrongSizeDropped(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		send    []Frame
		wantSeq []uint64
	}{
		{"size from first frame", Options{}, []Frame{testFrame(4, 4, 0), testFrame(5, 4, 1), testFrame(4, 4, 2)}, []uint64{0, 2}},
		{"size from options", Options{Width: 4, Height: 4}, []Frame{testFrame(3, 3, 0), testFrame(4, 4, 1), testFrame(4, 5, 2), testFrame(4, 4, 3)}, []uint64{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := listen(t, tt.opts)
			c := dial(t, s)
			_, err := c.Write(encoded(t, tt.send...))
			require.NoError(t, err)
			for _, seq := range tt.wantSeq {
				f := next(t, s)
				require.Equal(t, seq, f.Seq)
				require.Equal(t, testFrame(4, 4, seq).Pix, f.Pix)
				require.Equal(t, [2]int{4, 4}, [2]int{f.Width, f.Height})
			}
			st := s.Stats()
			require.Equal(t, uint64(len(tt.send)-len(tt.wantSeq)), st.Dropped)
			require.Equal(t, uint64(len(tt.wantSeq)), st.Frames)
			require.Zero(t, st.Gaps, "a dropped frame is not also a sequence gap")
		})
	}
}

// logBuffer collects a Source's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestDropsAndGapsAreLogged(t *testing.T) {
	var logs logBuffer
	s := listen(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	c := dial(t, s)
	_, err := c.Write(encoded(t, testFrame(2, 2, 0), testFrame(3, 2, 1), testFrame(2, 2, 4)))
	require.NoError(t, err)
	require.Equal(t, uint64(0), next(t, s).Seq)
	require.Equal(t, uint64(4), next(t, s).Seq)
	out := logs.String()
	require.Contains(t, out, `level=WARN msg="microscope stream: frame of another size dropped"`)
	require.Contains(t, out, "seq=1 width=3 height=2 want_width=2 want_height=2 dropped=1")
	require.Contains(t, out, `level=WARN msg="microscope stream: sequence gap"`)
	require.Contains(t, out, "after=1 got=4 missing=2 gaps=1")
}

func TestLogWorthy(t *testing.T) {
	var logged []uint64
	for n := uint64(1); n <= 300; n++ {
		if logWorthy(n) {
			logged = append(logged, n)
		}
	}
	require.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100, 200, 300}, logged)
}

func TestSequenceGaps(t *testing.T) {
	tests := []struct {
		name        string
		seqs        []uint64
		gaps, missd uint64
	}{
		{"continuous", []uint64{10, 11, 12}, 0, 0},
		{"jump forward", []uint64{0, 1, 5, 6}, 1, 3},
		{"two jumps", []uint64{0, 2, 4}, 2, 2},
		{"restart", []uint64{7, 8, 0, 1}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := listen(t, Options{})
			c := dial(t, s)
			for _, seq := range tt.seqs {
				_, err := c.Write(encoded(t, testFrame(3, 2, seq)))
				require.NoError(t, err)
			}
			for _, seq := range tt.seqs {
				require.Equal(t, seq, next(t, s).Seq, "every frame is delivered")
			}
			st := s.Stats()
			require.Equal(t, tt.gaps, st.Gaps)
			require.Equal(t, tt.missd, st.Missing)
		})
	}
}

func TestReconnectContinues(t *testing.T) {
	s := listen(t, Options{})
	c1 := dial(t, s)
	_, err := c1.Write(encoded(t, testFrame(3, 2, 0), testFrame(3, 2, 1)))
	require.NoError(t, err)
	require.Equal(t, uint64(0), next(t, s).Seq)
	require.Equal(t, uint64(1), next(t, s).Seq)
	require.NoError(t, c1.Close())

	c2 := dial(t, s)
	_, err = c2.Write(encoded(t, testFrame(3, 2, 2), testFrame(3, 2, 3)))
	require.NoError(t, err)
	require.Equal(t, uint64(2), next(t, s).Seq)
	require.Equal(t, uint64(3), next(t, s).Seq)
	st := s.Stats()
	require.Equal(t, Stats{Frames: 4, Connections: 2, Reconnects: 1}, st)
}

func TestNewConnectionReplacesStale(t *testing.T) {
	s := listen(t, Options{})
	stale := dial(t, s)
	_, err := stale.Write(encoded(t, testFrame(2, 2, 0)))
	require.NoError(t, err)
	require.Equal(t, uint64(0), next(t, s).Seq)

	fresh := dial(t, s)
	_, err = fresh.Write(encoded(t, testFrame(2, 2, 1)))
	require.NoError(t, err)
	require.Equal(t, uint64(1), next(t, s).Seq)
	waitClosedByPeer(t, stale)
	require.Equal(t, uint64(1), s.Stats().Reconnects)
}

func TestMalformedStreamDropsConnection(t *testing.T) {
	good := encoded(t, testFrame(3, 2, 0))
	tests := []struct {
		name string
		junk []byte
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: scope\r\n\r\n and more bytes to fill a header")},
		{"absurd size", encoded(t, testFrame(3, 2, 1))[:8]},
		{"truncated frame", good[:HeaderSize+3]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := listen(t, Options{Limits: Limits{MaxWidth: 16, MaxHeight: 16}})
			c := dial(t, s)
			junk := tt.junk
			if tt.name == "absurd size" {
				junk = append(junk, 0xff, 0xff, 0xff, 0x7f)
				junk = append(junk, make([]byte, HeaderSize)...)
			}
			_, err := c.Write(append(slices.Clone(good), junk...))
			require.NoError(t, err)
			require.NoError(t, c.(*net.TCPConn).CloseWrite())
			waitClosedByPeer(t, c)
			require.Equal(t, uint64(1), s.Stats().Errors)
			require.Equal(t, uint64(0), next(t, s).Seq, "the frame before the junk is kept")

			c2 := dial(t, s)
			_, err = c2.Write(encoded(t, testFrame(3, 2, 1)))
			require.NoError(t, err)
			require.Equal(t, uint64(1), next(t, s).Seq, "a new connection goes on")
		})
	}
}

func TestQueueFullDrops(t *testing.T) {
	s := listen(t, Options{Queue: 1})
	c := dial(t, s)
	_, err := c.Write(encoded(t, testFrame(2, 2, 0), testFrame(2, 2, 1), testFrame(2, 2, 2)))
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	waitClosedByPeer(t, c) // the Source has read everything
	st := s.Stats()
	require.Equal(t, uint64(1), st.Frames)
	require.Equal(t, uint64(2), st.Dropped)
	require.Equal(t, uint64(0), next(t, s).Seq, "the queued frame is the first")
}

func TestStoppedStreamWaitsAndCloseEnds(t *testing.T) {
	s := listen(t, Options{})
	dial(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.NextFrame(ctx, nil)
	require.ErrorIs(t, err, context.Canceled, "no frame: Next waits until the caller gives up")
	_, _, err = s.WaitSize(ctx)
	require.ErrorIs(t, err, context.Canceled)

	done := make(chan error, 1)
	go func() {
		_, _, err := s.Next(nil)
		done <- err
	}()
	require.NoError(t, s.Close())
	require.ErrorIs(t, <-done, io.EOF)
	_, _, err = s.Next(nil)
	require.ErrorIs(t, err, io.EOF)
	_, _, err = s.WaitSize(t.Context())
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, s.Close(), "Close is idempotent")
}

func TestWaitSize(t *testing.T) {
	s := listen(t, Options{})
	w, h := s.Size()
	require.Zero(t, w+h, "unknown before the first frame")
	c := dial(t, s)
	_, err := c.Write(encoded(t, testFrame(5, 3, 0)))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	w, h, err = s.WaitSize(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]int{5, 3}, [2]int{w, h})

	fixed := listen(t, Options{Width: 7, Height: 2})
	w, h = fixed.Size()
	require.Equal(t, [2]int{7, 2}, [2]int{w, h})
}

func TestListenRejectsOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"width without height", Options{Width: 4}, "width 4, height 0"},
		{"negative queue", Options{Queue: -1}, "queue -1"},
		{"beyond limits", Options{Width: 20, Height: 20, Limits: Limits{MaxWidth: 16}}, "20x20 beyond the limits 16x4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Listen("tcp", "127.0.0.1:0", tt.opts)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in, network, addr string
		bad               bool
	}{
		{"tcp://0.0.0.0:5555", "tcp", "0.0.0.0:5555", false},
		{"localhost:5555", "tcp", "localhost:5555", false},
		{"unix:///run/scope.sock", "unix", "/run/scope.sock", false},
		{"udp://host:1", "", "", true},
		{"tcp://", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, a, err := ParseAddr(tt.in)
			if tt.bad {
				require.ErrorIs(t, err, rig.ErrInvalid)
				return
			}
			require.NoError(t, err)
			require.Equal(t, [2]string{tt.network, tt.addr}, [2]string{n, a})
		})
	}
}

func TestSendErrors(t *testing.T) {
	path, _ := writeMovie(t, 3, 2, 2, false)
	tests := []struct {
		name string
		path string
		opts SendOptions
		ctx  func() context.Context
		is   error
	}{
		{"zero rate", path, SendOptions{}, t.Context, rig.ErrInvalid},
		{"negative max frames", path, SendOptions{Rate: 1, MaxFrames: -1}, t.Context, rig.ErrInvalid},
		{"missing file", filepath.Join(t.TempDir(), "none.tif"), SendOptions{Rate: 1}, t.Context, os.ErrNotExist},
		{"cancelled", path, SendOptions{Rate: 1}, func() context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := SendTIFF(tt.ctx(), io.Discard, tt.path, tt.opts)
			require.ErrorIs(t, err, tt.is)
		})
	}
}

func TestSendMaxFramesAndSeq(t *testing.T) {
	path, want := writeMovie(t, 5, 3, 2, true)
	var b bytes.Buffer
	require.NoError(t, SendTIFF(t.Context(), &b, path, SendOptions{Rate: 1e6, FirstSeq: 100, MaxFrames: 3}))
	d := NewDecoder(&b, Limits{})
	for i := range 3 {
		f, err := d.Next(nil)
		require.NoError(t, err)
		require.Equal(t, uint64(100+i), f.Seq)
		require.Equal(t, want[i].Pix, f.Pix)
		require.Equal(t, want[i].SourceTime, f.SourceTime)
	}
	_, err := d.Next(nil)
	require.ErrorIs(t, err, io.EOF)
}
