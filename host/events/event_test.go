package events

import (
	"encoding/json"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

var testTime = time.Date(2026, 11, 26, 18, 25, 0, 123456789, time.FixedZone("CET", 3600))

// head is the envelope of the events encoded by the tests below, rig-1's
// 7th event of session s at testTime, less its kind.
const head = `"rig":"rig-1","session":"s","time":"2026-11-26T17:25:00.123456789Z","seq":7,`

func TestEncodeWritesEnvelopeAndFields(t *testing.T) {
	tests := []struct {
		name    string
		payload Payload
		want    string
	}{
		{
			name: "started",
			payload: Started{
				Protocol: "skeleton", Clock: "virtual", Neurons: 1000,
				Plugins:   PluginNames{Stimulus: "sim-stimulus", Acquisition: "sim-acquisition", Model: "fnn"},
				RefreshHz: 60, ImagingRateHz: 30, ModelRateHz: 30, ModelDevice: "cpu", ModelSHA256: "ab12", DurationS: 15,
			},
			want: `{"schema":1,"kind":"started",` + head +
				`"protocol":"skeleton","clock":"virtual","plugins":{"stimulus":"sim-stimulus","acquisition":"sim-acquisition","model":"fnn"},"neurons":1000,` +
				`"refresh_hz":60,"imaging_rate_hz":30,"model_rate_hz":30,"model_device":"cpu","model_sha256":"ab12","duration_s":15}`,
		},
		{
			name:    "started without a model hash",
			payload: Started{Protocol: "p", Clock: "real"},
			want: `{"schema":1,"kind":"started",` + head +
				`"protocol":"p","clock":"real","plugins":{"stimulus":"","acquisition":"","model":""},"neurons":0,` +
				`"refresh_hz":0,"imaging_rate_hz":0,"model_rate_hz":0,"model_device":"","duration_s":0}`,
		},
		{
			name:    "block as a pointer",
			payload: &Block{Block: "natural", Index: 2, Frames: 300, OnsetS: 20.5, Repeats: 3, Trials: 2},
			want:    `{"schema":1,"kind":"block",` + head + `"block":"natural","index":2,"frames":300,"onset_s":20.5,"repeats":3,"trials":2}`,
		},
		{
			name: "trial of a present block",
			payload: Trial{Block: "natural", Index: 2, Trial: 1, Repeat: 0, Repeats: 3, Frames: 60, OnsetS: 21.5,
				Stimulus: json.RawMessage(`{"family": "natural", "seed": 3}`)},
			want: `{"schema":1,"kind":"trial",` + head +
				`"block":"natural","index":2,"trial":1,"repeat":0,"repeats":3,"frames":60,"onset_s":21.5,"stimulus":{"family":"natural","seed":3}}`,
		},
		{
			name:    "trial of a verify block",
			payload: Trial{Block: "check", Index: 4, Trial: 6, Repeat: 2, Repeats: 3, Frames: 30, OnsetS: 90, Condition: "mei", Target: "n17"},
			want: `{"schema":1,"kind":"trial",` + head +
				`"block":"check","index":4,"trial":6,"repeat":2,"repeats":3,"frames":30,"onset_s":90,"condition":"mei","target":"n17"}`,
		},
		{
			name: "accuracy with NaN",
			payload: Accuracy{Block: "session", Neurons: 3, DefinedNeurons: 2, ScoredScans: 100,
				MedianR: 0.5, Q1R: 0.25, Q3R: 0.75, PerNeuron: []float64{0.25, math.NaN(), -1e-7}},
			want: `{"schema":1,"kind":"accuracy",` + head +
				`"block":"session","neurons":3,"defined_neurons":2,"scored_scans":100,"median_r":0.5,"q1_r":0.25,"q3_r":0.75,"per_neuron":[0.25,null,-1e-7]}`,
		},
		{
			name: "accuracy of a repeated block",
			payload: Accuracy{Block: "clips", Neurons: 1, DefinedNeurons: 1, ScoredScans: 49,
				TrialAveraged: &TrialAveraged{Repeats: 3, CCAbsMedian: 0.5, CCMaxMedian: 0.8, CCNormMedian: 0.625, CCNormQ1: NaN(), CCNormQ3: 0.7},
				MedianR:       0.25, Q1R: 0.25, Q3R: 0.25, PerNeuron: []float64{0.25}},
			want: `{"schema":1,"kind":"accuracy",` + head + `"block":"clips","neurons":1,"defined_neurons":1,"scored_scans":49,` +
				`"repeats":3,"cc_abs_median":0.5,"cc_max_median":0.8,"cc_norm_median":0.625,"cc_norm_q1":null,"cc_norm_q3":0.7,` +
				`"median_r":0.25,"q1_r":0.25,"q3_r":0.25,"per_neuron":[0.25]}`,
		},
		{
			name:    "adapted",
			payload: Adapted{Block: "map", Neurons: 12, Samples: 900, Seconds: 1.25, MedianCVR: NaN()},
			want:    `{"schema":1,"kind":"adapted",` + head + `"block":"map","neurons":12,"samples":900,"seconds":1.25,"median_cv_r":null}`,
		},
		{
			name:    "selected",
			payload: Selected{Block: "targets", Targets: []string{"n3", "n1"}, Seconds: 40, MedianOptimalR: 0.27},
			want:    `{"schema":1,"kind":"selected",` + head + `"block":"targets","targets":["n3","n1"],"seconds":40,"median_optimal_r":0.27}`,
		},
		{
			name:    "verified",
			payload: Verified{Block: "check", Targets: 2, Evaluated: 2, Driven: 1, Significant: 0, DrivenFraction: 0.5, MedianZ: NaN()},
			want: `{"schema":1,"kind":"verified",` + head +
				`"block":"check","targets":2,"evaluated":2,"driven":1,"significant":0,"driven_fraction":0.5,"median_z":null}`,
		},
		{
			name:    "control",
			payload: Control{Command: CommandPause, State: "paused", Reason: "animal moved"},
			want:    `{"schema":1,"kind":"control",` + head + `"command":"pause","state":"paused","reason":"animal moved"}`,
		},
		{
			name:    "finished",
			payload: Finished{Status: StatusInterrupted, DurationS: 61.25, WallS: 3.5, FramesShown: 3675, FramesDropped: 2, Scans: 1837},
			want: `{"schema":1,"kind":"finished",` + head +
				`"status":"interrupted","duration_s":61.25,"wall_s":3.5,"frames_shown":3675,"frames_dropped":2,"scans":1837}`,
		},
		{
			name:    "finished with its output",
			payload: Finished{Status: StatusOK, Output: "runs/s"},
			want: `{"schema":1,"kind":"finished",` + head +
				`"status":"ok","duration_s":0,"wall_s":0,"frames_shown":0,"frames_dropped":0,"scans":0,"output":"runs/s"}`,
		},
		{
			name:    "error without plugin",
			payload: ErrorReport{Message: "model: out of memory"},
			want:    `{"schema":1,"kind":"error",` + head + `"message":"model: out of memory"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encode("rig-1", 7, Event{Session: "s", Time: testTime, Payload: tc.payload})
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
			require.True(t, json.Valid(got))
		})
	}
}

func TestDecodeEventRoundTrip(t *testing.T) {
	tests := []struct {
		payload Payload
		want    Payload // the typed payload DecodeEvent gives
	}{
		{payload: &Started{Protocol: "p", Clock: "real", Neurons: 0}, want: Started{Protocol: "p", Clock: "real"}},
		{payload: Block{Block: "b", Index: 3, Frames: 30, OnsetS: 1.5, Repeats: 1, Trials: 1}, want: Block{Block: "b", Index: 3, Frames: 30, OnsetS: 1.5, Repeats: 1, Trials: 1}},
		{
			payload: Trial{Block: "t", Index: 3, Trial: 2, Frames: 30, OnsetS: 1.5, Stimulus: json.RawMessage(`{"family": "x"}`)},
			want:    Trial{Block: "t", Index: 3, Trial: 2, Frames: 30, OnsetS: 1.5, Stimulus: json.RawMessage(`{"family":"x"}`)},
		},
		{
			payload: Accuracy{Block: "b", Neurons: 1, TrialAveraged: &TrialAveraged{Repeats: 2, CCNormMedian: 0.5}, PerNeuron: []float64{0.5}},
			want:    Accuracy{Block: "b", Neurons: 1, TrialAveraged: &TrialAveraged{Repeats: 2, CCNormMedian: 0.5}, PerNeuron: []float64{0.5}},
		},
		{payload: Adapted{Block: "m", Seconds: 2, MedianCVR: 0.5}, want: Adapted{Block: "m", Seconds: 2, MedianCVR: 0.5}},
		{payload: Selected{Block: "s", Targets: []string{"a"}}, want: Selected{Block: "s", Targets: []string{"a"}}},
		{payload: Verified{Block: "v", Targets: 1, Evaluated: 1, DrivenFraction: 0, MedianZ: 2}, want: Verified{Block: "v", Targets: 1, Evaluated: 1, MedianZ: 2}},
		{payload: Control{Command: CommandAbort, State: "aborting"}, want: Control{Command: CommandAbort, State: "aborting"}},
		{payload: Finished{Status: StatusOK, DurationS: 1}, want: Finished{Status: StatusOK, DurationS: 1}},
		{payload: ErrorReport{Message: "m", Plugin: "model"}, want: ErrorReport{Message: "m", Plugin: "model"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.want.Kind()), func(t *testing.T) {
			data, err := encode("rig-1", 42, Event{Session: "s", Time: testTime, Payload: tc.payload})
			require.NoError(t, err)

			m, err := DecodeEvent(data)

			require.NoError(t, err)
			require.Equal(t, SchemaVersion, m.Schema)
			require.Equal(t, "rig-1", m.Rig)
			require.Equal(t, uint64(42), m.Seq)
			require.Equal(t, tc.want.Kind(), m.Kind())
			require.Equal(t, "s", m.Session)
			require.True(t, testTime.Equal(m.Time), "time %v, want %v", m.Time, testTime)
			require.Equal(t, tc.want, m.Payload)
		})
	}
}

func TestAccuracyNaNRoundTrip(t *testing.T) {
	ev := Event{Session: "s", Time: testTime, Payload: Accuracy{
		Block: "b", Neurons: 2, MedianR: NaN(), Q1R: NaN(), Q3R: NaN(), PerNeuron: []float64{math.NaN(), 1},
		TrialAveraged: &TrialAveraged{CCAbsMedian: NaN()},
	}}
	data, err := encode("r", 1, ev)
	require.NoError(t, err)

	m, err := DecodeEvent(data)

	require.NoError(t, err)
	a, ok := m.Payload.(Accuracy)
	require.True(t, ok, "payload is %T", m.Payload)
	require.False(t, a.MedianR.Defined() || a.Q1R.Defined() || a.Q3R.Defined())
	require.Len(t, a.PerNeuron, 2)
	require.True(t, math.IsNaN(a.PerNeuron[0]))
	require.Equal(t, 1.0, a.PerNeuron[1])
	require.NotNil(t, a.TrialAveraged)
	require.False(t, a.CCAbsMedian.Defined())
}

func TestEncodeRejectsInvalidEvents(t *testing.T) {
	tests := []struct {
		name    string
		payload Payload
		msg     string
	}{
		{"no payload", nil, "no payload"},
		{"nil typed pointer", (*Block)(nil), "a nil *events.Block"},
		{"empty started", Started{}, "started: protocol is empty"},
		{"bad typed payload", Accuracy{Block: "b", Neurons: 1, PerNeuron: []float64{0.1, 0.2}}, "per_neuron holds 2 values for 1 neurons"},
		{"r out of range", Accuracy{Block: "b", Neurons: 1, PerNeuron: []float64{1.5}}, "per_neuron[0] 1.5 is not a correlation"},
		{"quartiles out of order", Accuracy{Block: "b", Q1R: 0.5, MedianR: 0.2, Q3R: 0.7}, "quartiles out of order"},
		{"negative onset", Block{Block: "b", OnsetS: -1}, "onset_s -1 is not a finite time >= 0"},
		{"trial with a stimulus that is not JSON", Trial{Block: "b", Stimulus: json.RawMessage(`{`)}, "stimulus \"{\" is not JSON"},
		{"infinite seconds", Adapted{Block: "b", Seconds: math.Inf(1)}, "adapted: block \"b\""},
		{"verified counts", Verified{Block: "v", Targets: 1, Evaluated: 2}, "significant <= driven <= evaluated <= targets"},
		{"unknown command", Control{Command: "stop", State: "paused"}, `control: command "stop"`},
		{"finished status", Finished{Status: "done"}, `finished: status "done" is not ok, degraded, error, interrupted or aborted`},
		{"empty error", ErrorReport{}, "error: message is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := encode("r", 1, Event{Session: "s", Time: testTime, Payload: tc.payload})
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
		{"journal-only kind", `{"schema":1,"kind":"stage_done","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":1}`, rig.ErrInvalid, `unknown kind "stage_done"`},
		{"bad rig", `{"schema":1,"kind":"error","rig":"r/x","session":"s","time":"2026-11-26T17:25:00Z","seq":1,"message":"m"}`, rig.ErrInvalid, `rig "r/x" is not a valid name`},
		{"empty session", `{"schema":1,"kind":"error","rig":"r","session":"","time":"2026-11-26T17:25:00Z","seq":1,"message":"m"}`, rig.ErrInvalid, `session "" is not a valid name`},
		{"kind field invalid", `{"schema":1,"kind":"finished","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":1,"status":"ok","scans":-2}`, rig.ErrInvalid, "scans -2: expected counts >= 0"},
		{"kind field of wrong type", `{"schema":1,"kind":"started","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":1,"protocol":7}`, rig.ErrInvalid, "decode started payload"},
		{"r that is not a number", `{"schema":1,"kind":"accuracy","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":1,"block":"b","neurons":1,"per_neuron":["x"]}`, rig.ErrInvalid, "decode accuracy payload"},
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

// allEntries holds a value of every payload and journal entry type.
var allEntries = []Entry{
	Started{}, Block{}, Trial{}, Accuracy{}, Adapted{}, Selected{}, Verified{}, Control{}, ErrorReport{}, Finished{},
	SessionEntry{}, Resumed{}, StageDone{}, Launched{}, Replayed{},
}

// TestEveryKindHasOneType: each kind the host publishes, and each
// journal-only kind, has one type, which the decoders give for it.
func TestEveryKindHasOneType(t *testing.T) {
	var published, journal []Kind
	for _, e := range allEntries {
		if _, ok := e.(Payload); ok {
			published = append(published, e.Kind())
		} else {
			journal = append(journal, e.Kind())
		}
	}
	require.ElementsMatch(t, Kinds, published)
	require.ElementsMatch(t, JournalKinds, journal)
	for _, e := range allEntries {
		if p, ok := e.(Payload); ok {
			got, err := unmarshalPayload(p.Kind(), []byte(`{}`))
			require.NoError(t, err)
			require.IsType(t, p, got)
		}
		l, err := DecodeEntry([]byte(`{"kind":"` + string(e.Kind()) + `"}`))
		require.NoError(t, err)
		require.IsType(t, e, l.Entry)
	}
}

// jsonFields returns the JSON names of a struct type's fields, embedded
// structs' included.
func jsonFields(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case name == "-":
		case f.Anonymous && name == "" && ft.Kind() == reflect.Struct:
			names = append(names, jsonFields(ft)...)
		case name == "":
			names = append(names, f.Name)
		default:
			names = append(names, name)
		}
	}
	return names
}

// TestFieldsAvoidTheEnvelopes: no payload uses an envelope field's name (in
// any case: encoding/json matches names case-insensitively), no journal
// entry the journal's, and every field has a json name.
func TestFieldsAvoidTheEnvelopes(t *testing.T) {
	for _, e := range allEntries {
		reserved := journalEnvelope
		if _, ok := e.(Payload); ok {
			reserved = envelope
		}
		typ := reflect.TypeOf(e)
		for _, name := range jsonFields(typ) {
			require.NotEqual(t, strings.ToUpper(name[:1]), name[:1], "%v field %s has no json name", typ, name)
			require.False(t, slices.ContainsFunc(reserved, func(r string) bool { return strings.EqualFold(r, name) }),
				"%v field %q is an envelope field", typ, name)
		}
	}
}

// TestEncodedFieldsAreTheTags: a payload with every field set encodes to
// exactly the fields its json tags name, so the tags (which docs/mqtt.md is
// generated from) are what goes on the wire.
func TestEncodedFieldsAreTheTags(t *testing.T) {
	full := []Payload{
		Started{Protocol: "p", Clock: "real", ModelSHA256: "x"},
		Block{Block: "b"},
		Trial{Block: "b", Stimulus: json.RawMessage(`{}`), Condition: "mei", Target: "n1"},
		Accuracy{Block: "b", TrialAveraged: &TrialAveraged{}},
		Adapted{Block: "b"},
		Selected{Block: "b"},
		Verified{Block: "b"},
		Control{Command: CommandPause, State: "paused", Reason: "r"},
		ErrorReport{Message: "m", Plugin: "model"},
		Finished{Status: StatusDegraded, Lagged: "l", Output: "o", Predictions: 1, Attempts: 1},
	}
	require.Len(t, full, len(Kinds))
	for _, p := range full {
		_, data, err := encodePayload(p)
		require.NoError(t, err)
		var got map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(data, &got))
		var keys []string
		for k := range got {
			keys = append(keys, k)
		}
		require.ElementsMatch(t, jsonFields(reflect.TypeOf(p)), keys, "%s", p.Kind())
	}
}

// TestDocEnvelope: the envelope table of docs/mqtt.md (written by
// internal/mqttdoc) names the envelope fields encode writes, in order.
func TestDocEnvelope(t *testing.T) {
	doc, err := os.ReadFile("../../docs/mqtt.md")
	require.NoError(t, err)
	_, payloads, ok := strings.Cut(string(doc), "\n## Payloads\n")
	require.True(t, ok, "the page has a Payloads section")
	_, table, _ := strings.Cut(payloads, "|---|---|---|\n")
	table, _, _ = strings.Cut(table, "\n\n")
	var fields []string
	for _, row := range strings.Split(table, "\n") {
		name, _, _ := strings.Cut(strings.TrimPrefix(row, "| `"), "`")
		fields = append(fields, name)
	}
	require.Equal(t, envelope, fields)
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
	ev := Event{Session: "s", Time: testTime, Payload: Accuracy{Block: "b", Neurons: len(r), Q1R: -0.5, Q3R: 0.5, PerNeuron: r}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encode("rig-1", 1, ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEventBlock(b *testing.B) {
	data, err := encode("rig-1", 1, Event{Session: "s", Time: testTime, Payload: Block{Block: "natural", Index: 3, Frames: 300, OnsetS: 12}})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}
