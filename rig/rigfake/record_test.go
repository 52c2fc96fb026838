package rigfake_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/simacq"
	"github.com/twinrig/twinrig/plugins/stimulus/present"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
	"github.com/twinrig/twinrig/rig/rigtest"
)

// session is what a session showed and read.
type session struct {
	shown [][]rig.ShownFrame // per block
	scans []rig.Scan
}

// block is one block of a test session.
type block struct {
	spec   string
	frames int
}

// runSession runs a short closed loop on the virtual clock, as the host
// does: each block is presented, its frames are observed, and the scans up
// to the block's end are read, in reads of at most readEvery.
func runSession(t *testing.T, s rig.Stimulus, a rig.Acquisition, blocks []block, readEvery time.Duration) session {
	t.Helper()
	ctx := t.Context()
	sinfo, err := s.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	_, err = a.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	_, err = a.Start(ctx, rig.StartRequest{Clock: rig.VirtualClock, Epoch: time.Unix(1_700_000_000, 0)})
	require.NoError(t, err)
	var out session
	var start, read time.Duration
	for i, b := range blocks {
		var frames []rig.ShownFrame
		_, err := s.Present(ctx, rig.PresentRequest{BlockID: fmt.Sprint("block-", i), Spec: json.RawMessage(b.spec), Frames: b.frames,
			Width: 32, Height: 18, Clock: rig.VirtualClock, Start: start}, func(f rig.ShownFrame) error {
			frames = append(frames, f)
			return nil
		})
		require.NoError(t, err)
		_, err = a.Observe(ctx, rig.ObserveRequest{Frames: frames})
		require.NoError(t, err)
		out.shown = append(out.shown, frames)
		start += time.Duration(math.Round(float64(b.frames) * 1e9 / sinfo.RefreshRateHz))
		for read < start {
			read = min(read+readEvery, start)
			resp, err := a.Read(ctx, rig.ReadRequest{Until: read})
			require.NoError(t, err)
			out.scans = append(out.scans, resp.Scans...)
		}
	}
	_, err = a.Stop(ctx, rig.StopRequest{})
	require.NoError(t, err)
	return out
}

// wallFree returns scans with HostTime as a recording keeps it (no
// monotonic clock reading).
func wallFree(scans []rig.Scan) []rig.Scan {
	out := make([]rig.Scan, len(scans))
	for i, s := range scans {
		out[i] = s
		if !s.HostTime.IsZero() {
			out[i].HostTime = time.Unix(0, s.HostTime.UnixNano())
		}
	}
	return out
}

// simSession records a short session of the built-in stimulus plugin and
// the simulated acquisition, in process.
func simSession(t *testing.T) (*rigfake.Recording, session, []block) {
	t.Helper()
	ctx := t.Context()
	stim := present.NewStimulus(present.Options{})
	_, err := stim.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"display":"headless","refresh_hz":60}`)})
	require.NoError(t, err)
	acq := simacq.New().WithLogger(slog.New(slog.DiscardHandler))
	_, err = acq.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neurons":6,"seed":3}`)})
	require.NoError(t, err)
	info, err := stim.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(info.Families), 2)
	blocks := []block{
		{fmt.Sprintf(`{"family": %q, "seed": 1}`, info.Families[0]), 45},
		{fmt.Sprintf(`{"family": %q, "seed": 2}`, info.Families[1]), 60},
		{fmt.Sprintf(`{"family": %q, "seed": 1}`, info.Families[0]), 30},
	}
	r := rigfake.NewRecorder()
	got := runSession(t, r.Stimulus(stim), r.Acquisition(acq), blocks, 250*time.Millisecond)
	return r.Recording(), got, blocks
}

func TestRecordAndPlayBackASimulatedSession(t *testing.T) {
	rec, real, blocks := simSession(t)
	require.Len(t, rec.Blocks, len(blocks))
	for i, b := range rec.Blocks {
		require.Equal(t, real.shown[i], b.Shown, "block %d: the recording keeps the frames shown", i)
		require.Equal(t, json.RawMessage(blocks[i].spec), b.Spec)
		require.Equal(t, rig.PresentResponse{Shown: blocks[i].frames}, b.Response)
	}
	require.Equal(t, wallFree(real.scans), rec.Scans, "the recording keeps the scans read")
	require.Len(t, rec.Scans, 68, "2.25 s of scans at 30 Hz, from 0")
	require.Equal(t, "sim-0005", rec.Acquisition.NeuronIDs[5])
	require.Equal(t, 60.0, rec.Stimulus.RefreshRateHz)

	// Through a file...
	path := filepath.Join(t.TempDir(), "session.twrgrec")
	require.NoError(t, rigfake.WriteFile(path, rec))
	back, err := rigfake.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, rec, back, "the file keeps the recording exactly")

	// ...and played back, read in other chunks: the same frames and scans.
	for _, every := range []time.Duration{time.Second / 30, 100 * time.Millisecond, time.Hour} {
		t.Run(fmt.Sprint("reads of ", every), func(t *testing.T) {
			ps, pa := rigfake.NewPlaybackStimulus(back), rigfake.NewPlaybackAcquisition(back)
			again := runSession(t, ps, pa, blocks, every)
			require.Equal(t, real.shown, again.shown, "the frames shown, exactly")
			require.Equal(t, wallFree(real.scans), again.scans, "the scans, exactly")
			require.Equal(t, []string{"Describe", "Start", "Observe", "Read"}, pa.Calls()[:4])
		})
	}
}

func TestPlaybackConformance(t *testing.T) {
	rec, _, _ := simSession(t)
	t.Run("acquisition", func(t *testing.T) { rigtest.Acquisition(t, rigfake.NewPlaybackAcquisition(rec)) })

	// A playback stimulus replays what was recorded: here every family
	// of a fake, seed 1, long enough for the suite.
	r := rigfake.NewRecorder()
	s := r.Stimulus(&rigfake.Stimulus{RefreshRateHz: 75})
	info, err := s.Describe(t.Context(), rig.DescribeRequest{})
	require.NoError(t, err)
	for _, fam := range info.Families {
		_, err := s.Present(t.Context(), rig.PresentRequest{Spec: json.RawMessage(fmt.Sprintf(`{"seed":1,"family":%q}`, fam)),
			Frames: 100, Width: 64, Height: 36}, func(rig.ShownFrame) error { return nil })
		require.NoError(t, err)
	}
	t.Run("stimulus", func(t *testing.T) { rigtest.Stimulus(t, rigfake.NewPlaybackStimulus(r.Recording())) })
}

func TestPlaybackStimulus(t *testing.T) {
	ctx := t.Context()
	r := rigfake.NewRecorder()
	s := r.Stimulus(&rigfake.Stimulus{})
	spec := json.RawMessage(`{"family":"levels","seed":5}`)
	present := func(s rig.Stimulus, req rig.PresentRequest) ([]rig.ShownFrame, error) {
		var got []rig.ShownFrame
		_, err := s.Present(ctx, req, func(f rig.ShownFrame) error { got = append(got, f); return nil })
		return got, err
	}
	_, err := s.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	req := rig.PresentRequest{Spec: spec, Frames: 4, Width: 2, Height: 2, Start: time.Second}
	want, err := present(s, req)
	require.NoError(t, err)

	p := rigfake.NewPlaybackStimulus(r.Recording())
	info, err := p.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, rig.StimulusInfo{Name: "playback of rigfake-stimulus", Families: []string{"levels"}, RefreshRateHz: 60}, info)
	for _, tc := range []struct {
		name   string
		change func(*rig.PresentRequest)
		check  func(t *testing.T, got []rig.ShownFrame, err error)
	}{
		{"the same request", func(*rig.PresentRequest) {}, func(t *testing.T, got []rig.ShownFrame, err error) {
			require.NoError(t, err)
			require.Equal(t, want, got)
		}},
		{"the spec written otherwise, fewer frames, later", func(r *rig.PresentRequest) {
			r.Spec, r.Frames, r.Start = json.RawMessage(`{ "seed": 5, "family": "levels" }`), 2, 3*time.Second
		}, func(t *testing.T, got []rig.ShownFrame, err error) {
			require.NoError(t, err)
			require.Len(t, got, 2)
			require.Equal(t, want[1].Frame, got[1].Frame)
			require.Equal(t, want[1].Time+2*time.Second, got[1].Time, "the recorded offsets from the new start")
		}},
		{"another seed", func(r *rig.PresentRequest) { r.Spec = json.RawMessage(`{"family":"levels","seed":6}`) },
			func(t *testing.T, _ []rig.ShownFrame, err error) { require.ErrorIs(t, err, rig.ErrInvalid) }},
		{"another size", func(r *rig.PresentRequest) { r.Width = 3 },
			func(t *testing.T, _ []rig.ShownFrame, err error) { require.ErrorIs(t, err, rig.ErrInvalid) }},
		{"more frames than recorded", func(r *rig.PresentRequest) { r.Frames = 5 }, func(t *testing.T, _ []rig.ShownFrame, err error) {
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, "no recorded block shows 5 frames")
		}},
		{"a sequence", func(r *rig.PresentRequest) { r.Spec, r.Sequence = nil, &rig.FrameSequence{} },
			func(t *testing.T, _ []rig.ShownFrame, err error) { require.ErrorIs(t, err, rig.ErrUnsupported) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req
			tc.change(&r)
			got, err := present(p, r)
			tc.check(t, got, err)
		})
	}
	_, err = p.Render(ctx, rig.RenderRequest{})
	require.ErrorIs(t, err, rig.ErrUnsupported)
}

func TestPlaybackAcquisitionHonoursUntil(t *testing.T) {
	ctx := t.Context()
	scan := func(i int64, t time.Duration) rig.Scan {
		return rig.Scan{Index: i, Time: t, SourceTime: t + 5, Values: []float32{float32(i), float32(math.NaN())},
			Behaviour: rig.Behaviour{PupilX: float32(math.NaN()), Treadmill: 2}}
	}
	rec := &rigfake.Recording{Scans: []rig.Scan{scan(0, 0), scan(1, 100*time.Millisecond), scan(2, 200*time.Millisecond), scan(3, 300*time.Millisecond)}}
	p := rigfake.NewPlaybackAcquisition(rec)
	info, err := p.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, rig.AcquisitionInfo{Name: "playback", Neurons: 2, ImagingRateHz: 10, Offline: true, IgnoresFrames: true}, info)
	_, err = p.Read(ctx, rig.ReadRequest{})
	require.ErrorIs(t, err, rig.ErrState)
	_, err = p.Observe(ctx, rig.ObserveRequest{})
	require.ErrorIs(t, err, rig.ErrState)
	_, err = p.Start(ctx, rig.StartRequest{})
	require.NoError(t, err)
	for _, tc := range []struct {
		until time.Duration
		want  []int64
	}{
		{-1, nil},
		{0, []int64{0}},
		{199 * time.Millisecond, []int64{1}},
		{199 * time.Millisecond, nil},
		{time.Hour, []int64{2, 3}},
	} {
		resp, err := p.Read(ctx, rig.ReadRequest{Until: tc.until})
		require.NoError(t, err)
		var got []int64
		for _, s := range resp.Scans {
			got = append(got, s.Index)
			require.Equal(t, fmt.Sprint(scan(s.Index, s.Time)), fmt.Sprint(s), "the scan as recorded (NaN included)")
		}
		require.Equal(t, tc.want, got, "until %v", tc.until)
	}
	// Start rewinds; the real clock waits for Until.
	epoch := time.Now()
	_, err = p.Start(ctx, rig.StartRequest{Clock: rig.RealClock, Epoch: epoch})
	require.NoError(t, err)
	resp, err := p.Read(ctx, rig.ReadRequest{Until: 30 * time.Millisecond})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(epoch), 30*time.Millisecond)
	require.Len(t, resp.Scans, 1)
	_, err = p.Stop(ctx, rig.StopRequest{})
	require.NoError(t, err)
	_, err = p.Read(ctx, rig.ReadRequest{})
	require.ErrorIs(t, err, rig.ErrState)
}

// The recorder passes Render and OptimalStimuli through, or says the
// wrapped plugin has none.
func TestRecorderPassesThrough(t *testing.T) {
	ctx := t.Context()
	r := rigfake.NewRecorder()
	s := r.Stimulus(&rigfake.Stimulus{})
	resp, err := s.(rig.Renderer).Render(ctx, rig.RenderRequest{Width: 1, Height: 1, RateHz: 60,
		Items: []rig.RenderItem{{Spec: json.RawMessage(`{"family":"gray","level":3}`), Frames: 1}}})
	require.NoError(t, err)
	require.Equal(t, [][]rig.Frame{{rigfake.Uniform(1, 1, 3)}}, resp.Items)
	_, err = r.Stimulus(rigfake.NewPlaybackStimulus(&rigfake.Recording{})).(rig.Renderer).Render(ctx, rig.RenderRequest{})
	require.ErrorIs(t, err, rig.ErrUnsupported)
	_, err = r.Stimulus(stimulusOnly{}).(rig.Renderer).Render(ctx, rig.RenderRequest{})
	require.ErrorIs(t, err, rig.ErrUnsupported)

	a := r.Acquisition(&rigfake.Acquisition{})
	_, err = a.(rig.TruthTeller).OptimalStimuli(ctx, rig.OptimalStimuliRequest{})
	require.ErrorIs(t, err, rig.ErrUnsupported)
	sim := r.Acquisition(simacq.New().WithLogger(slog.New(slog.DiscardHandler)))
	truth, err := sim.(rig.TruthTeller).OptimalStimuli(ctx, rig.OptimalStimuliRequest{Neurons: []int{0}, Width: 8, Height: 4, Frames: 1, FrameRateHz: 30})
	require.NoError(t, err)
	require.Len(t, truth.Stimuli, 1)

	// A block that fails is recorded with its error.
	_, err = s.Present(ctx, rig.PresentRequest{Spec: json.RawMessage(`{"family":"x"}`), Frames: 1, Width: 1, Height: 1}, nil)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, r.Recording().Blocks[0].Err, `family "x"`)
}

// stimulusOnly is a rig.Stimulus that does not render.
type stimulusOnly struct{ rig.Stimulus }

func encode(t testing.TB, rec *rigfake.Recording) []byte {
	var b bytes.Buffer
	require.NoError(t, rigfake.Encode(&b, rec))
	return b.Bytes()
}

// smallRecording exercises every record of the format.
func smallRecording() *rigfake.Recording {
	return &rigfake.Recording{
		Stimulus:    rig.StimulusInfo{Name: "s", Families: []string{"a"}, RefreshRateHz: 60, Renders: true},
		Acquisition: rig.AcquisitionInfo{Name: "a", Neurons: 2, NeuronIDs: []string{"x", "y"}, ImagingRateHz: 30, Simulated: true},
		Blocks: []rigfake.Block{
			{ID: "b0", Spec: json.RawMessage(` {"family": "a"} `), Frames: 2, Width: 2, Height: 1, Start: time.Second,
				Shown: []rig.ShownFrame{
					{Index: 0, Time: time.Second, Frame: rig.Frame{Width: 2, Height: 1, Pixels: []byte{0, 255}}},
					{Index: 1, Time: time.Second + 16_666_667, Frame: rig.Frame{Width: 2, Height: 1, Pixels: []byte{7, 9}}, Dropped: true},
				}, Response: rig.PresentResponse{Shown: 2, Dropped: 1}},
			{ID: "seq", Sequence: true, Frames: 3, Width: 1, Height: 1, Clock: rig.RealClock, Err: "enough"},
		},
		Scans: []rig.Scan{
			{Index: 0, Time: 0, Values: []float32{1, -2.5}},
			{Index: 1, Time: 33_333_333, SourceTime: -4, HostTime: time.Unix(1_700_000_000, 123),
				Values: []float32{float32(math.Inf(1)), 0}, Behaviour: rig.Behaviour{PupilX: 0.5, PupilY: -1, PupilRadius: 2, Treadmill: 3}},
		},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for name, rec := range map[string]*rigfake.Recording{
		"empty": {},
		"small": smallRecording(),
	} {
		t.Run(name, func(t *testing.T) {
			back, err := rigfake.Decode(bytes.NewReader(encode(t, rec)))
			require.NoError(t, err)
			require.Equal(t, rec, back)
		})
	}
	bad := smallRecording()
	bad.Stimulus.RefreshRateHz = math.NaN()
	require.ErrorIs(t, rigfake.Encode(io.Discard, bad), rig.ErrInvalid)
}

func TestDecodeRefusesMalformedFiles(t *testing.T) {
	good := encode(t, smallRecording())
	rec := func(tag byte, payload ...byte) []byte {
		return append(binary.AppendUvarint([]byte{tag}, uint64(len(payload))), payload...)
	}
	head := []byte("TWRGREC\x01")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	frame := func(extra ...byte) []byte {
		return cat(rec('B', []byte(`{}`)...), rec('F', append([]byte{0, 0, 0, 2, 2, 4, 1, 2, 3, 4}, extra...)...))
	}
	require.NotPanics(t, func() { _, _ = rigfake.Decode(bytes.NewReader(frame())) })
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "header"},
		{"not a recording", []byte("PNG....."), "not a twinrig recording"},
		{"another version", []byte("TWRGREC\x02"), "format version 2, want 1"},
		{"truncated", good[:len(good)-3], "record 7"},
		{"unknown tag", cat(head, rec('Z')), `record 0 ('Z'): unknown tag`},
		{"a frame before any block", cat(head, rec('F', 0, 0, 0, 0, 0, 0)), "a frame before any block"},
		{"a bad dropped flag", cat(head, rec('B', []byte(`{}`)...), rec('F', 0, 0, 2, 0, 0, 0)), "dropped: byte 2"},
		{"bytes left over", cat(head, frame(9)), "1 bytes left over"},
		{"too many pixels", cat(head, rec('B', []byte(`{}`)...), rec('F', 0, 0, 0, 2, 2, 9, 1)), "pixel count: 9, but 1 bytes are left"},
		{"a short scan", cat(head, rec('C', 0, 0, 0, 0, 1, 2)), "pupil x"},
		{"too many values", cat(head, rec('C', append(make([]byte, 20), 0xff, 0xff, 0xff, 0xff, 0x0f)...)), "value count"},
		{"a second stimulus", cat(head, rec('S', []byte(`{}`)...), rec('S', []byte(`{}`)...)), "a second stimulus info"},
		{"bad JSON", cat(head, rec('A', []byte(`{"Neurons": "x"}`)...)), "record 0 ('A')"},
		{"a huge record", cat(head, []byte{'C'}, binary.AppendUvarint(nil, 1<<40)), "length 1099511627776"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			if tc.name == "bytes left over" {
				_, err := rigfake.Decode(bytes.NewReader(cat(head, frame())))
				require.NoError(t, err, "the same frame without the extra byte")
			}
			_, err := rigfake.Decode(bytes.NewReader(data))
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// FuzzDecode: Decode never panics, and what it decodes encodes to a file
// that decodes to the same recording.
func FuzzDecode(f *testing.F) {
	f.Add(encode(f, smallRecording()))
	f.Add(encode(f, &rigfake.Recording{}))
	f.Add([]byte("TWRGREC\x01C\x00"))
	f.Add([]byte("TWRGREC\x01B\x02{}F\x0a\x00\x00\x00\x02\x02\x04\x01\x02\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := rigfake.Decode(bytes.NewReader(data))
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		var once bytes.Buffer
		if err := rigfake.Encode(&once, rec); err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		back, err := rigfake.Decode(bytes.NewReader(once.Bytes()))
		require.NoError(t, err, "an encoded recording decodes")
		require.Equal(t, once.Bytes(), encode(t, back), "and encodes to the same bytes (NaN included)")
	})
}
