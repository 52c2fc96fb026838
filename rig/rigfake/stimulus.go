package rigfake

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// DefaultFamilies are the families a Stimulus renders when its Families
// is nil.
var DefaultFamilies = []string{"levels", "gray", "blank"}

// Stimulus is a fake stimulus plugin (rig.Stimulus and rig.Renderer) that
// shows uniform gray frames:
//
//   - {"family": "levels", "seed": S}: display frame k from the onset has
//     the level Level(S, k);
//   - {"family": "gray", "level": L}: every frame has level L (default 128);
//   - {"family": "blank"}: every frame is mid-gray (128), as the protocols'
//     default blank, {"family":"blank"}, is.
//
// Any family listed in Families is rendered as "levels" unless it is
// "gray" or "blank". Other spec fields are ignored. A FrameSequence is
// shown scaled to the requested size (nearest neighbour). On the virtual
// clock frame k of a block is stamped Start + k/RefreshRateHz; on the real
// clock frames are paced in wall time from the call and stamped with the
// time since Epoch. No frame is ever dropped. Configure is optional; it
// accepts an empty settings object and rejects any setting.
//
// The zero value is ready to use. All methods are safe for concurrent use.
type Stimulus struct {
	// RefreshRateHz is the display rate; 0 means 60.
	RefreshRateHz float64
	// Families lists the families the fake renders; nil means
	// DefaultFamilies.
	Families []string
	// Fail, when set, is called with the method's name at the start of
	// every call, once the call is in the CallLog; an error it returns is
	// what the call returns.
	Fail func(method string) error

	CallLog

	mu         sync.Mutex
	configures []rig.ConfigureRequest
	presents   []PresentCall
	renders    []rig.RenderRequest
}

// PresentCall is one Present a fake answered: the request, the frames
// emitted (copied), and what Present returned.
type PresentCall struct {
	Request  rig.PresentRequest
	Shown    []rig.ShownFrame
	Response rig.PresentResponse
	Err      error
}

var (
	_ rig.Stimulus = (*Stimulus)(nil)
	_ rig.Renderer = (*Stimulus)(nil)
)

func (s *Stimulus) rate() float64 {
	if s.RefreshRateHz > 0 {
		return s.RefreshRateHz
	}
	return 60
}

func (s *Stimulus) families() []string {
	if s.Families != nil {
		return s.Families
	}
	return DefaultFamilies
}

// Configures returns the Configure requests received, in order.
func (s *Stimulus) Configures() []rig.ConfigureRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.configures)
}

// Presents returns the Present calls answered, in order (a call enters
// when it returns).
func (s *Stimulus) Presents() []PresentCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.presents)
}

// Renders returns the Render requests received, in order.
func (s *Stimulus) Renders() []rig.RenderRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.renders)
}

// Configure records the request. Settings must be empty or an empty JSON
// object; anything else wraps rig.ErrInvalid.
func (s *Stimulus) Configure(_ context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	if err := s.enter("Configure", s.Fail); err != nil {
		return rig.ConfigureResponse{}, err
	}
	s.mu.Lock()
	s.configures = append(s.configures, rig.ConfigureRequest{Settings: cloneBytes(req.Settings)})
	s.mu.Unlock()
	return rig.ConfigureResponse{}, checkNoSettings("rigfake stimulus", req.Settings)
}

// checkNoSettings accepts empty settings or an empty JSON object.
func checkNoSettings(who string, settings json.RawMessage) error {
	if len(settings) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(settings, &m); err != nil {
		return fmt.Errorf("%s: settings: %v: %w", who, err, rig.ErrInvalid)
	}
	for k := range m {
		return fmt.Errorf("%s: unknown setting %q (the fake takes none): %w", who, k, rig.ErrInvalid)
	}
	return nil
}

// Describe answers the fake's families and rate; it renders (Renders) and
// shows frame sequences (Sequences), headless.
func (s *Stimulus) Describe(context.Context, rig.DescribeRequest) (rig.StimulusInfo, error) {
	if err := s.enter("Describe", s.Fail); err != nil {
		return rig.StimulusInfo{}, err
	}
	return rig.StimulusInfo{Name: "rigfake-stimulus", Families: slices.Clone(s.families()), RefreshRateHz: s.rate(),
		Renders: true, Sequences: true}, nil
}

// look is a parsed spec: the level of display frame k.
type look func(k int64) byte

func (s *Stimulus) parse(spec json.RawMessage) (look, error) {
	var v struct {
		Family string `json:"family"`
		Seed   int64  `json:"seed"`
		Level  *int   `json:"level"`
	}
	if err := json.Unmarshal(spec, &v); err != nil {
		return nil, fmt.Errorf("spec: %v: %w", err, rig.ErrInvalid)
	}
	if !slices.Contains(s.families(), v.Family) {
		return nil, fmt.Errorf("spec: family %q, want one of %q: %w", v.Family, s.families(), rig.ErrInvalid)
	}
	switch v.Family {
	case "gray":
	case "blank":
		return func(int64) byte { return 128 }, nil
	default:
		return func(k int64) byte { return Level(v.Seed, k) }, nil
	}
	level := 128
	if v.Level != nil {
		level = *v.Level
	}
	if level < 0 || level > 255 {
		return nil, fmt.Errorf("spec: level %d, want 0..255: %w", level, rig.ErrInvalid)
	}
	return func(int64) byte { return byte(level) }, nil
}

// Render renders each item as Present would show it: frame k of an item
// is the display frame on screen k/RateHz after the onset.
func (s *Stimulus) Render(_ context.Context, req rig.RenderRequest) (rig.RenderResponse, error) {
	if err := s.enter("Render", s.Fail); err != nil {
		return rig.RenderResponse{}, err
	}
	s.mu.Lock()
	rec := req
	rec.Items = slices.Clone(req.Items)
	for i := range rec.Items {
		rec.Items[i].Spec = cloneBytes(rec.Items[i].Spec)
	}
	s.renders = append(s.renders, rec)
	s.mu.Unlock()
	if req.Width < 1 || req.Height < 1 || !(req.RateHz > 0) || math.IsInf(req.RateHz, 0) {
		return rig.RenderResponse{}, fmt.Errorf("rigfake stimulus: render %dx%d at %g Hz, want a size of at least 1x1 and a finite rate above 0: %w",
			req.Width, req.Height, req.RateHz, rig.ErrInvalid)
	}
	out := rig.RenderResponse{Items: make([][]rig.Frame, len(req.Items))}
	for i, it := range req.Items {
		lk, err := s.parse(it.Spec)
		if err != nil {
			return rig.RenderResponse{}, fmt.Errorf("rigfake stimulus: item %d: %w", i, err)
		}
		if it.Frames < 0 {
			return rig.RenderResponse{}, fmt.Errorf("rigfake stimulus: item %d: %d frames, want at least 0: %w", i, it.Frames, rig.ErrInvalid)
		}
		for k := range int64(it.Frames) {
			shown := int64(math.Floor(float64(k)*s.rate()/req.RateHz + 1e-9))
			out.Items[i] = append(out.Items[i], Uniform(req.Width, req.Height, lk(shown)))
		}
	}
	return out, nil
}

// Present shows req.Frames frames of the spec or sequence (see Stimulus)
// and records the call. A bad request wraps rig.ErrInvalid.
func (s *Stimulus) Present(ctx context.Context, req rig.PresentRequest, emit func(rig.ShownFrame) error) (resp rig.PresentResponse, err error) {
	call := PresentCall{Request: req}
	call.Request.Spec = cloneBytes(req.Spec)
	defer func() {
		call.Response, call.Err = resp, err
		s.mu.Lock()
		s.presents = append(s.presents, call)
		s.mu.Unlock()
	}()
	if err := s.enter("Present", s.Fail); err != nil {
		return rig.PresentResponse{}, err
	}
	frame, err := s.frames(req)
	if err != nil {
		return rig.PresentResponse{}, fmt.Errorf("rigfake stimulus: block %q: %w", req.BlockID, err)
	}
	rate := s.rate()
	began := time.Now()
	for k := range int64(req.Frames) {
		if err := ctx.Err(); err != nil {
			return resp, err
		}
		f := rig.ShownFrame{Index: k, Frame: frame(k), Time: req.Start + framePeriod(k, rate)}
		if req.Clock == rig.RealClock {
			if err := waitUntil(ctx, began.Add(framePeriod(k, rate))); err != nil {
				return resp, err
			}
			f.Time = time.Since(req.Epoch)
		}
		call.Shown = append(call.Shown, rig.ShownFrame{Index: f.Index, Time: f.Time, Frame: cloneFrame(f.Frame)})
		if err := emit(f); err != nil {
			return resp, err
		}
		resp.Shown++
	}
	return resp, nil
}

// frames checks a Present request and returns its display frame k.
func (s *Stimulus) frames(req rig.PresentRequest) (func(k int64) rig.Frame, error) {
	if req.Width < 1 || req.Height < 1 || req.Frames < 0 {
		return nil, fmt.Errorf("%d frames of %dx%d, want at least 0 frames of at least 1x1: %w", req.Frames, req.Width, req.Height, rig.ErrInvalid)
	}
	if (req.Sequence != nil) == (len(req.Spec) > 0) {
		return nil, fmt.Errorf("want exactly one of spec and sequence: %w", rig.ErrInvalid)
	}
	if seq := req.Sequence; seq != nil {
		if err := seq.Check(); err != nil {
			return nil, err
		}
		rate := s.rate()
		return func(k int64) rig.Frame {
			// seq.At(k/rate), without rounding the time to nanoseconds
			i := int64(math.Floor(float64(k)*seq.RateHz/rate+1e-9)) % int64(len(seq.Frames))
			return scale(seq.Frames[i], req.Width, req.Height)
		}, nil
	}
	lk, err := s.parse(req.Spec)
	if err != nil {
		return nil, err
	}
	return func(k int64) rig.Frame { return Uniform(req.Width, req.Height, lk(k)) }, nil
}

// scale resizes f to width x height, nearest neighbour.
func scale(f rig.Frame, width, height int) rig.Frame {
	if f.Width == width && f.Height == height {
		return cloneFrame(f)
	}
	px := make([]byte, width*height)
	for r := range height {
		sr := r * f.Height / height
		for c := range width {
			px[r*width+c] = f.Pixels[sr*f.Width+c*f.Width/width]
		}
	}
	return rig.Frame{Width: width, Height: height, Pixels: px}
}
