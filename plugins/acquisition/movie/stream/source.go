package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twinrig/twinrig/plugins/acquisition/movie"
	"github.com/twinrig/twinrig/rig"
)

// DefaultQueue is the number of frames a Source holds for Next when
// Options.Queue is 0.
const DefaultQueue = 64

// Options configure a Source.
type Options struct {
	// Width and Height fix the frame size; 0 lets the first frame fix it.
	Width, Height int
	// Limits bound the frames the decoder accepts (see Limits).
	Limits Limits
	// Queue is how many received frames wait for Next (default
	// DefaultQueue). A frame arriving when the queue is full is dropped,
	// counted and logged: the sender is never blocked by a slow consumer.
	Queue int
	// Logger receives gaps, drops and connection events (default
	// slog.Default()).
	Logger *slog.Logger
}

// Stats count what a Source has received.
type Stats struct {
	// Frames is the number of frames queued for Next.
	Frames uint64
	// Gaps is the number of sequence discontinuities: a frame whose
	// sequence number is not the previous frame's plus one (the first
	// frame ever received starts the count; a dropped frame still counts
	// as received, so it is not also a gap).
	Gaps uint64
	// Missing is the sum, over forward gaps, of the sequence numbers
	// skipped.
	Missing uint64
	// Dropped is the number of frames received whole but not queued: of
	// another size than the fixed one, or arriving with the queue full.
	Dropped uint64
	// Errors is the number of connections dropped for a malformed or
	// truncated stream.
	Errors uint64
	// Connections is the number of connections accepted; Reconnects the
	// number accepted after the first.
	Connections, Reconnects uint64
}

// Source listens for one microscope connection at a time and yields the
// frames it sends. It implements movie.Source. A new connection replaces
// the current one (which is closed), so a microscope that lost its link can
// simply connect again. A malformed stream (bad header, truncated frame)
// drops the connection, counted in Stats.Errors and logged; frames already
// queued stay available. A stream that stops makes Next wait: the caller's
// context decides how long. Its methods are safe for concurrent use, but
// one goroutine should call Next.
type Source struct {
	ln    net.Listener
	opts  Options
	log   *slog.Logger
	queue chan *Frame
	pool  sync.Pool
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu        sync.Mutex
	w, h      int
	sized     chan struct{} // closed once w, h are fixed
	conn      net.Conn
	haveSeq   bool
	lastSeq   uint64 // last sequence number received
	last      Frame  // metadata of the last frame Next returned
	delivered bool
	stats     Stats
}

var _ movie.Source = (*Source)(nil)

// Listen starts listening on network ("tcp" or "unix") and addr; port 0
// picks a free port (see Addr). Close stops it.
func Listen(network, addr string, opts Options) (*Source, error) {
	if opts.Width < 0 || opts.Height < 0 || (opts.Width == 0) != (opts.Height == 0) {
		return nil, fmt.Errorf("stream: options width %d, height %d, want both 0 or both > 0: %w", opts.Width, opts.Height, rig.ErrInvalid)
	}
	if opts.Queue < 0 {
		return nil, fmt.Errorf("stream: options queue %d, want >= 0: %w", opts.Queue, rig.ErrInvalid)
	}
	opts.Limits = opts.Limits.orDefault()
	if opts.Width > opts.Limits.MaxWidth || opts.Height > opts.Limits.MaxHeight {
		return nil, fmt.Errorf("stream: options size %dx%d beyond the limits %dx%d: %w", opts.Width, opts.Height, opts.Limits.MaxWidth, opts.Limits.MaxHeight, rig.ErrInvalid)
	}
	if opts.Queue == 0 {
		opts.Queue = DefaultQueue
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("stream: listen %s %s: %w", network, addr, err)
	}
	s := &Source{
		ln:    ln,
		opts:  opts,
		log:   opts.Logger.With("listen", ln.Addr().String()),
		queue: make(chan *Frame, opts.Queue),
		done:  make(chan struct{}),
		sized: make(chan struct{}),
	}
	if opts.Width > 0 {
		s.w, s.h = opts.Width, opts.Height
		close(s.sized)
	}
	s.wg.Add(1)
	go s.accept()
	s.log.Info("microscope stream listening")
	return s, nil
}

// Addr returns the address the Source listens on.
func (s *Source) Addr() net.Addr { return s.ln.Addr() }

// Size returns the frame size: Options.Width and Height, else the first
// frame's, else 0, 0 while no frame has arrived (see WaitSize).
func (s *Source) Size() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w, s.h
}

// WaitSize blocks until the frame size is known, then returns it; ctx's
// error if cancelled first, io.EOF after Close.
func (s *Source) WaitSize(ctx context.Context) (int, int, error) {
	select {
	case <-s.sized:
		w, h := s.Size()
		return w, h, nil
	case <-s.done:
		return 0, 0, io.EOF
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

// Stats returns the counts so far.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Last returns the metadata (sequence number, source and host timestamps,
// channel, size; Pix nil) of the frame Next or NextFrame returned last, and
// false before the first.
func (s *Source) Last() (Frame, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.delivered
}

// Next implements movie.Source: it blocks until a frame arrives, copies it
// into dst (grown if needed) and returns it with its source timestamp;
// io.EOF once the Source is closed. Its sequence number and host
// timestamp are in Last.
func (s *Source) Next(dst []uint16) ([]uint16, time.Duration, error) {
	f, err := s.NextFrame(context.Background(), dst)
	if err != nil {
		return nil, 0, err
	}
	return f.Pix, f.SourceTime, nil
}

// NextFrame blocks until a frame arrives and returns it, with its sequence
// number, source and host timestamps, its samples copied into dst (grown
// if needed). It returns ctx's error if ctx ends first and io.EOF once the
// Source is closed (frames still queued then are discarded).
func (s *Source) NextFrame(ctx context.Context, dst []uint16) (Frame, error) {
	select {
	case <-s.done:
		return Frame{}, io.EOF
	default:
	}
	var q *Frame
	select {
	case q = <-s.queue:
	case <-s.done:
		return Frame{}, io.EOF
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	}
	f := *q
	f.Pix = append(dst[:0], q.Pix...)
	s.pool.Put(q)
	s.mu.Lock()
	s.last, s.delivered = f, true
	s.last.Pix = nil
	s.mu.Unlock()
	return f, nil
}

// Close stops listening, closes the current connection and waits for the
// Source's goroutines; Next then returns io.EOF. It is idempotent.
func (s *Source) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.ln.Close()
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.log.Info("microscope stream closed")
	})
	return err
}

func (s *Source) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *Source) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closed() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("microscope stream: accept failed", "err", err)
			select {
			case <-s.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		s.mu.Lock()
		if s.closed() {
			s.mu.Unlock()
			c.Close()
			return
		}
		if s.conn != nil {
			s.log.Warn("microscope stream: new connection replaces the current one", "old", s.conn.RemoteAddr().String(), "new", c.RemoteAddr().String())
			s.conn.Close()
		}
		s.conn = c
		s.stats.Connections++
		if s.stats.Connections > 1 {
			s.stats.Reconnects++
		}
		s.mu.Unlock()
		s.log.Info("microscope connected", "remote", c.RemoteAddr().String())
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Source) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		if s.conn == c {
			s.conn = nil
		}
		s.mu.Unlock()
	}()
	remote := c.RemoteAddr().String()
	dec := NewDecoder(bufio.NewReaderSize(c, 64<<10), s.opts.Limits)
	for {
		q, _ := s.pool.Get().(*Frame)
		if q == nil {
			q = new(Frame)
		}
		f, err := dec.Next(q.Pix)
		if err != nil {
			s.pool.Put(q)
			switch {
			case s.closed():
			case errors.Is(err, io.EOF):
				s.log.Info("microscope disconnected", "remote", remote)
			case errors.Is(err, net.ErrClosed):
				s.log.Info("microscope connection closed", "remote", remote)
			default:
				s.mu.Lock()
				s.stats.Errors++
				s.mu.Unlock()
				s.log.Error("microscope stream: dropping the connection", "remote", remote, "err", err)
			}
			return
		}
		f.HostTime = time.Now()
		*q = f
		if !s.admit(q, remote) {
			s.pool.Put(q)
		}
	}
}

// admit checks a decoded frame's size and sequence number and queues it;
// false when it was dropped.
func (s *Source) admit(f *Frame, remote string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.haveSeq && f.Seq != s.lastSeq+1 {
		s.stats.Gaps++
		if f.Seq > s.lastSeq {
			s.stats.Missing += f.Seq - s.lastSeq - 1
		}
		switch {
		case !logWorthy(s.stats.Gaps):
		case f.Seq > s.lastSeq:
			s.log.Warn("microscope stream: sequence gap", "remote", remote, "after", s.lastSeq, "got", f.Seq, "missing", f.Seq-s.lastSeq-1, "gaps", s.stats.Gaps)
		default:
			s.log.Warn("microscope stream: sequence went back (sender restarted?)", "remote", remote, "after", s.lastSeq, "got", f.Seq, "gaps", s.stats.Gaps)
		}
	}
	s.haveSeq, s.lastSeq = true, f.Seq
	if s.w == 0 {
		s.w, s.h = f.Width, f.Height
		close(s.sized)
		s.log.Info("microscope stream: frame size fixed by the first frame", "width", s.w, "height", s.h)
	}
	if f.Width != s.w || f.Height != s.h {
		s.stats.Dropped++
		if !logWorthy(s.stats.Dropped) {
			return false
		}
		s.log.Warn("microscope stream: frame of another size dropped", "remote", remote, "seq", f.Seq, "width", f.Width, "height", f.Height, "want_width", s.w, "want_height", s.h, "dropped", s.stats.Dropped)
		return false
	}
	select {
	case s.queue <- f:
		s.stats.Frames++
		return true
	default:
		s.stats.Dropped++
		if !logWorthy(s.stats.Dropped) {
			return false
		}
		s.log.Warn("microscope stream: queue full, frame dropped (the consumer is too slow)", "remote", remote, "seq", f.Seq, "queue", cap(s.queue), "dropped", s.stats.Dropped)
		return false
	}
}

// logWorthy limits the log to the first 10 drops or gaps and then every
// 100th, so that a sender stuck sending bad frames does not flood it; the
// counts in Stats stay exact and each line carries the total so far.
func logWorthy(n uint64) bool { return n <= 10 || n%100 == 0 }
