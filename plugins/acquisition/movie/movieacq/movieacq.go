// Package movieacq is the acquisition plugin's "movie" source: two-photon
// frames processed online, frame by frame, by package movie's pipeline
// (motion correction, ROI traces, neuropil, dF/F, deconvolution), from
//
//   - a recorded movie (setting "path": a multi-page TIFF or BigTIFF as
//     ScanImage writes it), replayed at its own frame times; or
//   - a live microscope streaming frames to the plugin (setting "listen":
//     tcp://host:port or unix:///path; wire format in package stream and
//     docs/microscope-stream.md).
//
// Each scan's values are the ROIs' dF/F. A scan's session time is its
// source timestamp relative to the first frame's, placed on the session
// clock where the first frame arrived (a live stream) or at zero (a
// recording). The microscope does not respond to the stimulus: Observe
// accepts the shown frames and ignores them. A recording runs on either
// clock (on the virtual one as fast as the machine allows: offline
// reanalysis); a live stream only on the real clock.
package movieacq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"time"

	"github.com/twinrig/twinrig/plugins/acquisition/movie"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/stream"
	"github.com/twinrig/twinrig/plugins/acquisition/movie/traces"
	"github.com/twinrig/twinrig/rig"
)

// Settings configure the movie source.
type Settings struct {
	// Path is the TIFF or BigTIFF movie; exactly one of Path and Listen.
	Path string `json:"path"`
	// Listen is where a live microscope connects (tcp://host:port or
	// unix:///path).
	Listen string `json:"listen"`
	// Masks is the ROI mask file (required; see package traces).
	Masks string `json:"masks"`
	// RateHz is the movie's frame rate (required): it dates pages without
	// a ScanImage timestamp and sets the imaging rate reported.
	RateHz float64 `json:"rate_hz"`
	// DecayMs is the indicator's decay time constant (default 1250, GCaMP6s).
	DecayMs float64 `json:"decay_ms"`
	// MotionCorrection turns rigid motion correction on (default true).
	MotionCorrection *bool `json:"motion_correction"`
}

// ParseSettings decodes and checks settings; every problem names its field
// and wraps rig.ErrInvalid.
func ParseSettings(raw json.RawMessage) (Settings, error) {
	var s Settings
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("movie settings: %v: %w", err, rig.ErrInvalid)
	}
	var errs []error
	switch {
	case s.Path == "" && s.Listen == "":
		errs = append(errs, fmt.Errorf("movie settings: field \"path\": missing, want the TIFF movie's path (or \"listen\" for a live stream): %w", rig.ErrInvalid))
	case s.Path != "" && s.Listen != "":
		errs = append(errs, fmt.Errorf("movie settings: fields \"path\" and \"listen\" both given, want one source: %w", rig.ErrInvalid))
	case s.Listen != "":
		if _, _, err := stream.ParseAddr(s.Listen); err != nil {
			errs = append(errs, fmt.Errorf("movie settings: field \"listen\": %w", err))
		}
	}
	if s.Masks == "" {
		errs = append(errs, fmt.Errorf("movie settings: field \"masks\": missing, want the ROI mask file's path: %w", rig.ErrInvalid))
	}
	if !(s.RateHz > 0) || s.RateHz > 10000 {
		errs = append(errs, fmt.Errorf("movie settings: field \"rate_hz\": %v, want the frame rate in (0, 10000]: %w", s.RateHz, rig.ErrInvalid))
	}
	if s.DecayMs == 0 {
		s.DecayMs = 1250
	}
	if !(s.DecayMs > 0) || math.IsInf(s.DecayMs, 0) {
		errs = append(errs, fmt.Errorf("movie settings: field \"decay_ms\": %v, want > 0: %w", s.DecayMs, rig.ErrInvalid))
	}
	return s, errors.Join(errs...)
}

// Acquisition replays a movie through the online pipeline. Its methods are
// safe for concurrent use.
type Acquisition struct {
	log *slog.Logger

	mu       sync.Mutex
	settings Settings
	masks    *traces.Masks
	width    int
	height   int
	src      frameSource
	pipe     *movie.Pipeline
	clock    rig.Clock
	epoch    time.Time
	running  bool
	pending  *pendingFrame // read from the source, not yet due
	frame    []uint16
	ended    bool
	next     int64
}

type pendingFrame struct {
	pix     []uint16
	t       time.Duration // session time
	source  time.Duration // the source's own timestamp
	arrived time.Time     // when a live frame arrived (zero for a recording)
}

var _ rig.Acquisition = (*Acquisition)(nil)

// New returns an unconfigured movie source.
func New(log *slog.Logger) *Acquisition {
	if log == nil {
		log = slog.Default()
	}
	return &Acquisition{log: log}
}

// Configure checks the settings, the movie and the masks: a missing or
// corrupt file, or masks of another size than the movie, is an error naming
// the file, before anything runs.
func (a *Acquisition) Configure(_ context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	s, err := ParseSettings(req.Settings)
	if err != nil {
		return rig.ConfigureResponse{}, err
	}
	masks, err := traces.LoadMasks(s.Masks)
	if err != nil {
		return rig.ConfigureResponse{}, err
	}
	w, h := masks.Width, masks.Height
	if s.Path != "" {
		src, err := movie.OpenTIFF(s.Path, s.RateHz)
		if err != nil {
			return rig.ConfigureResponse{}, err
		}
		w, h = src.Size()
		src.Close()
	}
	if masks.Width != w || masks.Height != h {
		return rig.ConfigureResponse{}, fmt.Errorf("movie: masks %s are for %dx%d frames, the movie %s is %dx%d: %w",
			s.Masks, masks.Width, masks.Height, s.Path, w, h, rig.ErrInvalid)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return rig.ConfigureResponse{}, fmt.Errorf("movie: Configure during a session: %w", rig.ErrState)
	}
	a.settings, a.masks, a.width, a.height = s, masks, w, h
	return rig.ConfigureResponse{}, nil
}

// Describe reports the ROIs as the neurons, named by their mask ids.
func (a *Acquisition) Describe(context.Context, rig.DescribeRequest) (rig.AcquisitionInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.masks == nil {
		return rig.AcquisitionInfo{}, fmt.Errorf("movie: Describe before Configure: %w", rig.ErrState)
	}
	ids := make([]string, len(a.masks.ROIs))
	for i, r := range a.masks.ROIs {
		ids[i] = r.ID
	}
	if a.settings.Listen != "" {
		return rig.AcquisitionInfo{
			Name: "stream:" + a.settings.Listen, Neurons: len(ids), NeuronIDs: ids, ImagingRateHz: a.settings.RateHz,
			IgnoresFrames: true,
		}, nil
	}
	return rig.AcquisitionInfo{
		Name: "movie:" + filepath.Base(a.settings.Path), Neurons: len(ids), NeuronIDs: ids,
		ImagingRateHz: a.settings.RateHz, Offline: true, IgnoresFrames: true,
	}, nil
}

// Start opens the movie from its first frame and a fresh pipeline.
func (a *Acquisition) Start(_ context.Context, req rig.StartRequest) (rig.StartResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.masks == nil {
		return rig.StartResponse{}, fmt.Errorf("movie: Start before Configure: %w", rig.ErrState)
	}
	if req.Clock == rig.RealClock && req.Epoch.IsZero() {
		return rig.StartResponse{}, fmt.Errorf("movie: Start on the real clock without an epoch: %w", rig.ErrInvalid)
	}
	a.closeSource()
	s := a.settings
	if s.Listen != "" && req.Clock != rig.RealClock {
		return rig.StartResponse{}, fmt.Errorf("movie: a live stream (%s) runs on the real clock only: %w", s.Listen, rig.ErrInvalid)
	}
	var src frameSource
	var err error
	if s.Listen != "" {
		src, err = listen(s.Listen, a.width, a.height, req.Epoch, a.log)
	} else {
		src, err = openRecording(s.Path, s.RateHz)
	}
	if err != nil {
		return rig.StartResponse{}, err
	}
	pipe, err := movie.New(movie.Config{
		Width: a.width, Height: a.height, Masks: a.masks, Rate: s.RateHz,
		DecayTau:      time.Duration(s.DecayMs * float64(time.Millisecond)),
		DisableMotion: s.MotionCorrection != nil && !*s.MotionCorrection,
	})
	if err != nil {
		src.close()
		return rig.StartResponse{}, err
	}
	a.src, a.pipe = src, pipe
	a.clock, a.epoch = req.Clock, req.Epoch
	a.running, a.ended, a.pending, a.next = true, false, nil, 0
	return rig.StartResponse{}, nil
}

// Observe accepts the shown frames; a recording does not respond to them.
func (a *Acquisition) Observe(context.Context, rig.ObserveRequest) (rig.ObserveResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		return rig.ObserveResponse{}, fmt.Errorf("movie: Observe outside a session, want Start first: %w", rig.ErrState)
	}
	return rig.ObserveResponse{}, nil
}

// Read processes the movie's frames whose time (since its first frame) is
// at most req.Until and returns them as scans. On the real clock it first
// waits until that time has passed. After the last frame it returns no
// more scans.
func (a *Acquisition) Read(ctx context.Context, req rig.ReadRequest) (rig.ReadResponse, error) {
	a.mu.Lock()
	clock, epoch, running := a.clock, a.epoch, a.running
	a.mu.Unlock()
	if !running {
		return rig.ReadResponse{}, fmt.Errorf("movie: Read outside a session, want Start first: %w", rig.ErrState)
	}
	if clock == rig.RealClock {
		if wait := time.Until(epoch.Add(req.Until)); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return rig.ReadResponse{}, ctx.Err()
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out rig.ReadResponse
	for !a.ended {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if a.pending == nil {
			f, err := a.src.next(ctx, a.frame)
			if errors.Is(err, errNotYet) {
				break
			}
			if errors.Is(err, io.EOF) {
				a.ended = true
				a.log.Info("movie ended", "source", a.settings.Path+a.settings.Listen, "frames", a.next)
				break
			}
			if err != nil {
				return out, err
			}
			a.frame = f.pix
			a.pending = &f
		}
		if a.pending.t > req.Until {
			break
		}
		sample, err := a.pipe.Process(a.pending.pix, a.pending.t)
		if err != nil {
			return out, err
		}
		host := a.pending.arrived
		if host.IsZero() {
			host = sample.HostTime
		}
		out.Scans = append(out.Scans, rig.Scan{
			Index: a.next, Time: a.pending.t, Values: append([]float32(nil), sample.DFF...),
			Behaviour:  rig.Behaviour{PupilX: nan, PupilY: nan, PupilRadius: nan, Treadmill: nan},
			SourceTime: a.pending.source, HostTime: host,
		})
		a.next++
		a.pending = nil
	}
	return out, nil
}

var nan = float32(math.NaN())

// Stop ends the session and closes the movie.
func (a *Acquisition) Stop(context.Context, rig.StopRequest) (rig.StopResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closeSource()
	a.running = false
	return rig.StopResponse{}, nil
}

func (a *Acquisition) closeSource() {
	if a.src != nil {
		a.src.close()
		a.src = nil
	}
}

// frameSource yields frames dated on the session clock.
type frameSource interface {
	// next returns the next frame (its pixels in dst when they fit),
	// errNotYet when none is available now, or io.EOF after the last.
	next(ctx context.Context, dst []uint16) (pendingFrame, error)
	close()
}

var errNotYet = errors.New("no frame yet")

// recording replays a TIFF movie; session time = source time - the first
// frame's.
type recording struct {
	src     *movie.TIFFSource
	first   time.Duration
	started bool
}

func openRecording(path string, rate float64) (*recording, error) {
	src, err := movie.OpenTIFF(path, rate)
	if err != nil {
		return nil, err
	}
	return &recording{src: src}, nil
}

func (r *recording) next(_ context.Context, dst []uint16) (pendingFrame, error) {
	pix, t, err := r.src.Next(dst)
	if err != nil {
		return pendingFrame{}, err
	}
	if !r.started {
		r.first, r.started = t, true
	}
	return pendingFrame{pix: pix, t: t - r.first, source: t}, nil
}

func (r *recording) close() { r.src.Close() }

// live takes frames from a microscope stream; session time = source time -
// the first frame's + when the first frame arrived on the session clock.
type live struct {
	src     *stream.Source
	epoch   time.Time
	offset  time.Duration
	started bool
}

func listen(addr string, w, h int, epoch time.Time, log *slog.Logger) (*live, error) {
	network, address, err := stream.ParseAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("movie: listen %q: %w", addr, err)
	}
	src, err := stream.Listen(network, address, stream.Options{Width: w, Height: h, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("movie: listen %q: %w", addr, err)
	}
	return &live{src: src, epoch: epoch}, nil
}

// next returns a frame already received, or errNotYet.
func (l *live) next(ctx context.Context, dst []uint16) (pendingFrame, error) {
	now, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	f, err := l.src.NextFrame(now, dst)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return pendingFrame{}, errNotYet
	}
	if err != nil {
		return pendingFrame{}, err
	}
	if !l.started {
		l.offset, l.started = f.HostTime.Sub(l.epoch)-f.SourceTime, true
	}
	return pendingFrame{pix: f.Pix, t: f.SourceTime + l.offset, source: f.SourceTime, arrived: f.HostTime}, nil
}

func (l *live) close() { l.src.Close() }
