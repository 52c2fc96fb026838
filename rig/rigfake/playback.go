package rigfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// PlaybackStimulus is a stimulus plugin that replays the frames a
// Recording's blocks showed. Present finds the recorded block with the
// same spec (equal as JSON), size, and at least as many frames, preferring
// the first one not replayed yet, and emits its first req.Frames frames
// with their recorded pixels, indices and dropped flags. Their times keep
// their recorded offsets: on the virtual clock frame k is at req.Start +
// (its recorded time - the block's recorded Start), so a block replayed
// with its recorded request gets its recorded times exactly; on the real
// clock the frames are paced in wall time at their recorded offsets from
// the block's first frame and stamped with the time since Epoch.
//
// A spec that no recorded block matches wraps rig.ErrInvalid, a frame
// sequence wraps rig.ErrUnsupported, and so does Render: Describe says it
// neither renders nor shows sequences. Its families are those of the
// recorded blocks. Recorded Present errors are not replayed.
//
// All methods are safe for concurrent use.
type PlaybackStimulus struct {
	// Fail, when set, is called with the method's name at the start of
	// every call, once the call is in the CallLog; an error it returns is
	// what the call returns.
	Fail func(method string) error

	CallLog

	rec    *Recording
	specs  []any // each block's spec, decoded (nil: a sequence or bad JSON)
	mu     sync.Mutex
	played []bool
}

// NewPlaybackStimulus returns a stimulus that replays rec's blocks. rec
// must not change afterwards.
func NewPlaybackStimulus(rec *Recording) *PlaybackStimulus {
	p := &PlaybackStimulus{rec: rec, played: make([]bool, len(rec.Blocks)), specs: make([]any, len(rec.Blocks))}
	for i, b := range rec.Blocks {
		if !b.Sequence {
			p.specs[i] = decodeSpec(b.Spec)
		}
	}
	return p
}

// decodeSpec decodes a spec to compare it as JSON (nil if it is not).
func decodeSpec(spec json.RawMessage) any {
	var v any
	d := json.NewDecoder(bytes.NewReader(spec))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return nil
	}
	return v
}

var _ rig.Stimulus = (*PlaybackStimulus)(nil)

// Configure accepts any settings (the recorded plugin had its own).
func (p *PlaybackStimulus) Configure(context.Context, rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	return rig.ConfigureResponse{}, p.enter("Configure", p.Fail)
}

// families returns the recorded blocks' families, in order of recording.
func (p *PlaybackStimulus) families() []string {
	var out []string
	for _, s := range p.specs {
		m, ok := s.(map[string]any)
		if !ok {
			continue
		}
		if f, ok := m["family"].(string); ok && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// Describe answers the recorded stimulus's info, with the families of the
// recorded blocks, not rendering, showing no sequences and no display. A
// recording without stimulus info gets the rate of its first block's
// frames (60 Hz if unknown).
func (p *PlaybackStimulus) Describe(context.Context, rig.DescribeRequest) (rig.StimulusInfo, error) {
	if err := p.enter("Describe", p.Fail); err != nil {
		return rig.StimulusInfo{}, err
	}
	info := p.rec.Stimulus
	info.Name = playbackName(info.Name)
	info.Families = p.families()
	info.Renders, info.Sequences, info.Display = false, false, false
	if !(info.RefreshRateHz > 0) {
		info.RefreshRateHz = 60
		for _, b := range p.rec.Blocks {
			if len(b.Shown) > 1 && b.Shown[1].Time > b.Shown[0].Time {
				info.RefreshRateHz = 1 / (b.Shown[1].Time - b.Shown[0].Time).Seconds()
				break
			}
		}
	}
	return info, nil
}

// Render wraps rig.ErrUnsupported: a recording holds shown frames only.
func (p *PlaybackStimulus) Render(context.Context, rig.RenderRequest) (rig.RenderResponse, error) {
	if err := p.enter("Render", p.Fail); err != nil {
		return rig.RenderResponse{}, err
	}
	return rig.RenderResponse{}, fmt.Errorf("playback stimulus: a recording cannot render: %w", rig.ErrUnsupported)
}

// find returns the recorded block to replay for req, marking it played.
func (p *PlaybackStimulus) find(req rig.PresentRequest) (*Block, error) {
	want := decodeSpec(req.Spec)
	if want == nil {
		return nil, fmt.Errorf("playback stimulus: block %q: spec %q is not JSON: %w", req.BlockID, req.Spec, rig.ErrInvalid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	found := -1
	for i, b := range p.rec.Blocks {
		if p.specs[i] == nil || b.Width != req.Width || b.Height != req.Height || len(b.Shown) < req.Frames ||
			!equalJSON(p.specs[i], want) {
			continue
		}
		if !p.played[i] {
			found = i
			break
		}
		if found < 0 {
			found = i
		}
	}
	if found < 0 {
		return nil, fmt.Errorf("playback stimulus: block %q: no recorded block shows %d frames of %s at %dx%d: %w",
			req.BlockID, req.Frames, req.Spec, req.Width, req.Height, rig.ErrInvalid)
	}
	p.played[found] = true
	return &p.rec.Blocks[found], nil
}

// playbackName names the playback of the plugin called name.
func playbackName(name string) string {
	if name == "" {
		return "playback"
	}
	return "playback of " + name
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// Present replays a recorded block (see PlaybackStimulus).
func (p *PlaybackStimulus) Present(ctx context.Context, req rig.PresentRequest, emit func(rig.ShownFrame) error) (rig.PresentResponse, error) {
	if err := p.enter("Present", p.Fail); err != nil {
		return rig.PresentResponse{}, err
	}
	if req.Sequence != nil {
		return rig.PresentResponse{}, fmt.Errorf("playback stimulus: block %q: a recording cannot show frame sequences: %w", req.BlockID, rig.ErrUnsupported)
	}
	b, err := p.find(req)
	if err != nil {
		return rig.PresentResponse{}, err
	}
	var resp rig.PresentResponse
	began := time.Now()
	for _, rf := range b.Shown[:req.Frames] {
		if err := ctx.Err(); err != nil {
			return resp, err
		}
		f := rig.ShownFrame{Index: rf.Index, Time: req.Start + rf.Time - b.Start, Frame: cloneFrame(rf.Frame), Dropped: rf.Dropped}
		if req.Clock == rig.RealClock {
			if err := waitUntil(ctx, began.Add(rf.Time-b.Shown[0].Time)); err != nil {
				return resp, err
			}
			f.Time = time.Since(req.Epoch)
		}
		if err := emit(f); err != nil {
			return resp, err
		}
		resp.Shown++
		if f.Dropped {
			resp.Dropped++
		}
	}
	return resp, nil
}

// PlaybackAcquisition is an offline acquisition that replays a
// Recording's scans: each Start rewinds to the first scan, and Read
// returns the recorded scans not returned yet, in recorded order, up to
// the first one after Until (on the real clock after waiting until Epoch +
// Until). Observe is accepted and ignored (IgnoresFrames). Observe and
// Read outside a session wrap rig.ErrState.
//
// All methods are safe for concurrent use.
type PlaybackAcquisition struct {
	// Fail, when set, is called with the method's name at the start of
	// every call, once the call is in the CallLog; an error it returns is
	// what the call returns.
	Fail func(method string) error

	CallLog

	rec      *Recording
	mu       sync.Mutex
	running  bool
	sessions int
	clock    rig.Clock
	epoch    time.Time
	next     int
}

// NewPlaybackAcquisition returns an acquisition that replays rec's scans.
// rec must not change afterwards.
func NewPlaybackAcquisition(rec *Recording) *PlaybackAcquisition {
	return &PlaybackAcquisition{rec: rec}
}

var _ rig.Acquisition = (*PlaybackAcquisition)(nil)

// Configure accepts any settings (the recorded plugin had its own).
func (p *PlaybackAcquisition) Configure(context.Context, rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	return rig.ConfigureResponse{}, p.enter("Configure", p.Fail)
}

// Describe answers the recorded acquisition's info as an offline one that
// ignores frames and tells no truth. A recording without acquisition info
// gets its neuron count from the first scan and its rate from the first
// two (30 Hz if unknown).
func (p *PlaybackAcquisition) Describe(context.Context, rig.DescribeRequest) (rig.AcquisitionInfo, error) {
	if err := p.enter("Describe", p.Fail); err != nil {
		return rig.AcquisitionInfo{}, err
	}
	info := p.rec.Acquisition
	info.Name = playbackName(info.Name)
	info.NeuronIDs = slices.Clone(info.NeuronIDs)
	info.Offline, info.IgnoresFrames, info.TellsTruth = true, true, false
	if info.Neurons == 0 && len(p.rec.Scans) > 0 {
		info.Neurons = len(p.rec.Scans[0].Values)
	}
	if !(info.ImagingRateHz > 0) {
		info.ImagingRateHz = 30
		if s := p.rec.Scans; len(s) > 1 && s[1].Time > s[0].Time {
			info.ImagingRateHz = 1 / (s[1].Time - s[0].Time).Seconds()
		}
	}
	return info, nil
}

// Start rewinds to the first recorded scan. The real clock needs an Epoch.
func (p *PlaybackAcquisition) Start(_ context.Context, req rig.StartRequest) (rig.StartResponse, error) {
	if err := p.enter("Start", p.Fail); err != nil {
		return rig.StartResponse{}, err
	}
	if err := checkClock("playback acquisition", req); err != nil {
		return rig.StartResponse{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running, p.clock, p.epoch, p.next = true, req.Clock, req.Epoch, 0
	p.sessions++
	return rig.StartResponse{}, nil
}

// Observe ignores the frames.
func (p *PlaybackAcquisition) Observe(context.Context, rig.ObserveRequest) (rig.ObserveResponse, error) {
	if err := p.enter("Observe", p.Fail); err != nil {
		return rig.ObserveResponse{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return rig.ObserveResponse{}, fmt.Errorf("playback acquisition: Observe outside a session, want Start first: %w", rig.ErrState)
	}
	return rig.ObserveResponse{}, nil
}

// Read returns the next recorded scans up to req.Until.
func (p *PlaybackAcquisition) Read(ctx context.Context, req rig.ReadRequest) (rig.ReadResponse, error) {
	if err := p.enter("Read", p.Fail); err != nil {
		return rig.ReadResponse{}, err
	}
	p.mu.Lock()
	running, clock, epoch, session := p.running, p.clock, p.epoch, p.sessions
	p.mu.Unlock()
	if !running {
		return rig.ReadResponse{}, fmt.Errorf("playback acquisition: Read outside a session, want Start first: %w", rig.ErrState)
	}
	if clock == rig.RealClock {
		if err := waitUntil(ctx, epoch.Add(req.Until)); err != nil {
			return rig.ReadResponse{}, fmt.Errorf("playback acquisition: waiting for session time %v: %w", req.Until, err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running || p.sessions != session {
		return rig.ReadResponse{}, fmt.Errorf("playback acquisition: the session ended during Read: %w", rig.ErrState)
	}
	var out rig.ReadResponse
	for p.next < len(p.rec.Scans) && p.rec.Scans[p.next].Time <= req.Until {
		out.Scans = append(out.Scans, cloneScan(p.rec.Scans[p.next]))
		p.next++
	}
	return out, nil
}

// Stop ends the session; outside one it does nothing.
func (p *PlaybackAcquisition) Stop(context.Context, rig.StopRequest) (rig.StopResponse, error) {
	if err := p.enter("Stop", p.Fail); err != nil {
		return rig.StopResponse{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running = false
	return rig.StopResponse{}, nil
}
