package events

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

var testTime = time.Date(2026, 11, 26, 18, 25, 0, 123456789, time.FixedZone("CET", 3600))

func TestEncodeWritesEnvelopeAndFields(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{
			name: "started",
			ev: Event{Kind: KindStarted, Session: "demo-20261126T182500", Time: testTime, Payload: Started{
				Protocol: "skeleton", Clock: "virtual", Neurons: 1000,
				Plugins: PluginNames{Stimulus: "sim-stimulus", Acquisition: "sim-acquisition", Model: "fnn"},
			}},
			want: `{"schema":1,"kind":"started","rig":"rig-1","session":"demo-20261126T182500","time":"2026-11-26T17:25:00.123456789Z","seq":7,` +
				`"protocol":"skeleton","clock":"virtual","plugins":{"stimulus":"sim-stimulus","acquisition":"sim-acquisition","model":"fnn"},"neurons":1000}`,
		},
		{
			name: "block as a pointer",
			ev:   Event{Kind: KindBlock, Session: "s", Time: testTime, Payload: &Block{Block: "natural", Index: 2, Frames: 300, OnsetS: 20.5}},
			want: `{"schema":1,"kind":"block","rig":"rig-1","session":"s","time":"2026-11-26T17:25:00.123456789Z","seq":7,"block":"natural","index":2,"frames":300,"onset_s":20.5}`,
		},
		{
			name: "trial as a map",
			ev:   Event{Kind: KindTrial, Session: "s", Time: testTime, Payload: map[string]any{"block": "t1", "index": 0, "extra": true}},
			want: `{"schema":1,"kind":"trial","rig":"rig-1","session":"s","time":"2026-11-26T17:25:00.123456789Z","seq":7,"block":"t1","extra":true,"index":0}`,
		},
		{
			name: "accuracy with NaN",
			ev: Event{Kind: KindAccuracy, Session: "s", Time: testTime, Payload: Accuracy{
				Block: "session", Neurons: 3, MedianR: 0.5, Q1R: 0.25, Q3R: 0.75, PerNeuron: []float64{0.25, math.NaN(), -0.125},
			}},
			want: `{"schema":1,"kind":"accuracy","rig":"rig-1","session":"s","time":"2026-11-26T17:25:00.123456789Z","seq":7,` +
				`"block":"session","neurons":3,"median_r":0.5,"q1_r":0.25,"q3_r":0.75,"per_neuron":[0.25,null,-0.125]}`,
		},
		{
			name: "finished",
			ev:   Event{Kind: KindFinished, Session: "s", Time: testTime, Payload: Finished{Status: StatusInterrupted, DurationS: 61.25, FramesShown: 3675, Scans: 1837}},
			want: `{"schema":1,"kind":"finished","rig":"rig-1","session":"s","time":"2026-11-26T17:25:00.123456789Z","seq":7,"status":"interrupted","duration_s":61.25,"frames_shown":3675,"scans":1837}`,
		},
		{
			name: "error without plugin",
			ev:   Event{Kind: KindError, Session: "s", Time: testTime, Payload: ErrorReport{Message: "model: out of memory"}},
			want: `{"schema":1,"kind":"error","rig":"rig-1","session":"s","time":"2026-11-26T17:25:00.123456789Z","seq":7,"message":"model: out of memory"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encode("rig-1", 7, tc.ev)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
			require.True(t, json.Valid(got))
		})
	}
}

func TestDecodeEventRoundTrip(t *testing.T) {
	tests := []struct {
		ev   Event
		want any // the typed payload DecodeEvent gives
	}{
		{
			ev:   Event{Kind: KindStarted, Session: "s", Payload: &Started{Protocol: "p", Clock: "real", Neurons: 0}},
			want: Started{Protocol: "p", Clock: "real"},
		},
		{
			ev:   Event{Kind: KindTrial, Session: "s", Payload: map[string]any{"block": "t", "index": 3, "frames": 30, "onset_s": 1.5}},
			want: Block{Block: "t", Index: 3, Frames: 30, OnsetS: 1.5},
		},
		{
			ev:   Event{Kind: KindFinished, Session: "s", Payload: Finished{Status: StatusOK, DurationS: 1}},
			want: Finished{Status: StatusOK, DurationS: 1},
		},
		{
			ev:   Event{Kind: KindError, Session: "s", Payload: ErrorReport{Message: "m", Plugin: "model"}},
			want: ErrorReport{Message: "m", Plugin: "model"},
		},
	}
	for _, tc := range tests {
		t.Run(string(tc.ev.Kind), func(t *testing.T) {
			tc.ev.Time = testTime
			data, err := encode("rig-1", 42, tc.ev)
			require.NoError(t, err)

			m, err := DecodeEvent(data)

			require.NoError(t, err)
			require.Equal(t, SchemaVersion, m.Schema)
			require.Equal(t, "rig-1", m.Rig)
			require.Equal(t, uint64(42), m.Seq)
			require.Equal(t, tc.ev.Kind, m.Kind)
			require.Equal(t, "s", m.Session)
			require.True(t, testTime.Equal(m.Time), "time %v, want %v", m.Time, testTime)
			require.Equal(t, tc.want, m.Payload)
		})
	}
}

func TestAccuracyNaNRoundTrip(t *testing.T) {
	ev := Event{Kind: KindAccuracy, Session: "s", Time: testTime, Payload: Accuracy{
		Block: "b", Neurons: 2, MedianR: math.NaN(), Q1R: math.NaN(), Q3R: math.NaN(), PerNeuron: []float64{math.NaN(), 1},
	}}
	data, err := encode("r", 1, ev)
	require.NoError(t, err)

	m, err := DecodeEvent(data)

	require.NoError(t, err)
	a, ok := m.Payload.(Accuracy)
	require.True(t, ok, "payload is %T", m.Payload)
	require.True(t, math.IsNaN(a.MedianR) && math.IsNaN(a.Q1R) && math.IsNaN(a.Q3R))
	require.Len(t, a.PerNeuron, 2)
	require.True(t, math.IsNaN(a.PerNeuron[0]))
	require.Equal(t, 1.0, a.PerNeuron[1])
}

func TestEncodeRejectsInvalidEvents(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		msg  string
	}{
		{"unknown kind", Event{Kind: "log", Session: "s"}, `unknown kind "log"`},
		{"no payload", Event{Kind: KindStarted, Session: "s"}, "started: protocol is empty"},
		{"payload of another kind", Event{Kind: KindStarted, Session: "s", Payload: Block{Block: "b"}}, "a events.Block payload does not fit a started event"},
		{"nil typed pointer", Event{Kind: KindBlock, Session: "s", Payload: (*Block)(nil)}, "block payload must encode to a JSON object, not null"},
		{"not an object", Event{Kind: KindBlock, Session: "s", Payload: []int{1}}, "block payload must encode to a JSON object, not [1]"},
		{"envelope field", Event{Kind: KindBlock, Session: "s", Payload: map[string]any{"block": "b", "seq": 1}}, `uses the envelope field "seq"`},
		{"envelope field in other case", Event{Kind: KindBlock, Session: "s", Payload: map[string]any{"block": "b", "Schema": 2}}, `uses the envelope field "schema"`},
		{"map failing validation", Event{Kind: KindFinished, Session: "s", Payload: map[string]any{"status": "done"}}, `finished: status "done" is not ok, error, interrupted or aborted`},
		{"map of wrong types", Event{Kind: KindBlock, Session: "s", Payload: map[string]any{"block": 5}}, "decode block payload"},
		{"bad typed payload", Event{Kind: KindAccuracy, Session: "s", Payload: Accuracy{Block: "b", Neurons: 1, PerNeuron: []float64{0.1, 0.2}}}, "per_neuron holds 2 values for 1 neurons"},
		{"r out of range", Event{Kind: KindAccuracy, Session: "s", Payload: Accuracy{Block: "b", Neurons: 1, PerNeuron: []float64{1.5}}}, "per_neuron[0] 1.5 is not a correlation"},
		{"quartiles out of order", Event{Kind: KindAccuracy, Session: "s", Payload: Accuracy{Block: "b", Q1R: 0.5, MedianR: 0.2, Q3R: 0.7}}, "quartiles out of order"},
		{"negative onset", Event{Kind: KindBlock, Session: "s", Payload: Block{Block: "b", OnsetS: -1}}, "onset_s -1 is not a finite time >= 0"},
		{"empty error", Event{Kind: KindError, Session: "s", Payload: ErrorReport{}}, "error: message is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.Time = testTime
			_, err := encode("r", 1, tc.ev)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

func TestDecodeEventRejects(t *testing.T) {
	const ok = `"kind":"error","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":1,"message":"m"`
	tests := []struct {
		name string
		data string
		is   error
		msg  string
	}{
		{"not JSON", `{`, rig.ErrInvalid, "events: decode: unexpected end of JSON input"},
		{"not an object", `[1]`, rig.ErrInvalid, "cannot unmarshal array"},
		{"no schema", `{` + ok + `}`, ErrSchema, "no schema field"},
		{"newer schema", `{"schema":2,` + ok + `}`, ErrSchema, "schema 2; this decoder reads schema 1"},
		{"fractional schema", `{"schema":1.5,` + ok + `}`, ErrSchema, "schema 1.5"},
		{"no kind", `{"schema":1,"rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":1}`, rig.ErrInvalid, "no kind field"},
		{"no seq", `{"schema":1,"kind":"error","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","message":"m"}`, rig.ErrInvalid, "no seq field"},
		{"seq 0", `{"schema":1,"kind":"error","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":0,"message":"m"}`, rig.ErrInvalid, "seq is 0"},
		{"negative seq", `{"schema":1,"kind":"error","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":-1,"message":"m"}`, rig.ErrInvalid, "cannot unmarshal number -1"},
		{"bad time", `{"schema":1,"kind":"error","rig":"r","session":"s","time":"yesterday","seq":1,"message":"m"}`, rig.ErrInvalid, `time "yesterday" is not RFC 3339`},
		{"unknown kind", `{"schema":1,"kind":"log","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":1}`, rig.ErrInvalid, `unknown kind "log"`},
		{"bad rig", `{"schema":1,"kind":"error","rig":"r/x","session":"s","time":"2026-11-26T17:25:00Z","seq":1,"message":"m"}`, rig.ErrInvalid, `rig "r/x" is not a valid name`},
		{"empty session", `{"schema":1,"kind":"error","rig":"r","session":"","time":"2026-11-26T17:25:00Z","seq":1,"message":"m"}`, rig.ErrInvalid, `session "" is not a valid name`},
		{"kind field invalid", `{"schema":1,"kind":"finished","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":1,"status":"ok","scans":-2}`, rig.ErrInvalid, "scans -2 is negative"},
		{"kind field of wrong type", `{"schema":1,"kind":"started","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":1,"protocol":7}`, rig.ErrInvalid, "decode started payload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tc.data))
			require.ErrorIs(t, err, tc.is)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

func TestDecodeEventIgnoresUnknownFields(t *testing.T) {
	m, err := DecodeEvent([]byte(`{"schema":1,"kind":"error","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":3,"message":"m","added_later":[1,2]}`))
	require.NoError(t, err)
	require.Equal(t, ErrorReport{Message: "m"}, m.Payload)
}

func TestTopics(t *testing.T) {
	require.Equal(t, "twinrig/rig-1/demo-20261126T182500/started", Topic("rig-1", "demo-20261126T182500", KindStarted))
	require.Equal(t, "twinrig/rig-1/status", StatusTopic("rig-1"))
}

func BenchmarkEncodeAccuracy10k(b *testing.B) {
	r := make([]float64, 10000)
	for i := range r {
		r[i] = float64(i%2000)/1000 - 1
	}
	ev := Event{Kind: KindAccuracy, Session: "s", Time: testTime, Payload: Accuracy{Block: "b", Neurons: len(r), Q1R: -0.5, Q3R: 0.5, PerNeuron: r}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encode("rig-1", 1, ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEventBlock(b *testing.B) {
	data, err := encode("rig-1", 1, Event{Kind: KindBlock, Session: "s", Time: testTime, Payload: Block{Block: "natural", Index: 3, Frames: 300, OnsetS: 12}})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}
