package events

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// FuzzDecodeEvent checks that DecodeEvent never panics, that it rejects
// with ErrSchema or rig.ErrInvalid only, and that whatever it accepts
// encodes again into a payload it accepts, with the same envelope and
// payload, which then encodes to the same bytes: decoding and encoding
// lose nothing after one round.
func FuzzDecodeEvent(f *testing.F) {
	for _, ev := range sessionEvents("demo") {
		data, err := encode("rig-1", 1, ev)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte(`{"schema":1,"kind":"accuracy","rig":"r","session":"s","time":"2026-11-26T18:25:00+01:00","seq":9,"block":"b","neurons":2,"median_r":null,"per_neuron":[null,0.5]}`))
	f.Add([]byte(`{"schema":1,"kind":"accuracy","rig":"r","session":"s","time":"2026-11-26T18:25:00Z","seq":9,"block":"b","neurons":1,"repeats":3,"cc_norm_q1":null,"per_neuron":null}`))
	f.Add([]byte(`{"schema":1,"kind":"trial","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":18446744073709551615,"block":"t","Block":"u","stimulus":{"a":"<b>"}}`))
	f.Add([]byte(`{"schema":1,"kind":"verified","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":2,"block":"v","targets":2,"evaluated":1,"driven_fraction":null}`))
	f.Add([]byte(`{"schema":2}`))
	f.Add([]byte(`null`))

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeEvent(data)
		if err != nil {
			require.True(t, errors.Is(err, ErrSchema) || errors.Is(err, rig.ErrInvalid), "error %v matches no sentinel", err)
			return
		}
		once, err := encode(m.Rig, m.Seq, m.Event)
		require.NoError(t, err, "re-encoding %s", data)
		m2, err := DecodeEvent(once)
		require.NoError(t, err, "decoding the re-encoded %s", once)
		require.Equal(t, m.Kind(), m2.Kind())
		require.Equal(t, m.Rig, m2.Rig)
		require.Equal(t, m.Session, m2.Session)
		require.Equal(t, m.Seq, m2.Seq)
		require.True(t, m.Time.Equal(m2.Time))
		// Compared as JSON: NaN is not equal to itself.
		p1, err := json.Marshal(m.Payload)
		require.NoError(t, err)
		p2, err := json.Marshal(m2.Payload)
		require.NoError(t, err)
		require.JSONEq(t, string(p1), string(p2))
		twice, err := encode(m2.Rig, m2.Seq, m2.Event)
		require.NoError(t, err)
		require.Equal(t, string(once), string(twice))
	})
}

// FuzzDecodeEntry checks that DecodeEntry, which reads a journal back
// (resuming a session reads its stage_done entries), never panics, that it
// rejects with rig.ErrInvalid only, and that whatever it accepts encodes
// again into a line it accepts, with the same kind, time and fields, which
// then encodes to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	for _, ev := range sessionEvents("demo") {
		line, err := EncodeEntry(ev.Payload, ev.Time)
		require.NoError(f, err)
		f.Add(line)
	}
	for _, e := range []Entry{
		SessionEntry{Version: "dev", PluginProtocol: 1, Rig: "rig-1", Config: Input{Path: "/c.yaml", SHA256: "ab"}, Protocol: Input{Path: "/p.yaml", SHA256: "cd"}},
		Resumed{Version: "dev", FromS: 90, Completed: []string{"map", "test"}},
		StageDone{Stage: "fit", StageKind: "adapt", Index: 2, StartS: 90, EndS: 90, ModelSteps: 2700, Scans: 2700,
			Scores:  map[string]StageScores{"test": {CCNorm: NullFloats{0.5, math.NaN()}, CCAbs: NullFloats{0.4, 0.1}, R: NullFloats{0.1, 0.2}}},
			Readout: "/runs/s/readout-map.json", ReadoutSHA256: "ef"},
		&StageDone{Stage: "sel", StageKind: "select", Targets: []string{"b", "a"}},
	} {
		line, err := EncodeEntry(e, testTime)
		require.NoError(f, err)
		f.Add(line)
	}
	// As the previous version wrote them (a map: keys sorted).
	f.Add([]byte(`{"end_s":60,"index":0,"kind":"stage_done","model_steps":1800,"scans":1800,"stage":"map","stage_kind":"present","start_s":0,"time":"2026-11-26T17:26:00.5Z"}`))
	f.Add([]byte(`{"kind":"trial","stimulus":{"family":"x"},"target":""}`))
	f.Add([]byte(`{"kind":"stage_done","stage":"sel","start_s":90,"end_s":9`))
	f.Add([]byte(`{"kind":"session","time":"9999-12-31T23:59:59-01:00"}`))
	f.Add([]byte(`{"kind":"stage_done","scores":{"x":{"r":[1,"y"]}}}`))

	f.Fuzz(func(t *testing.T, line []byte) {
		l, err := DecodeEntry(line)
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		once, err := EncodeEntry(l.Entry, l.Time)
		require.NoError(t, err, "re-encoding %s", line)
		l2, err := DecodeEntry(once)
		require.NoError(t, err, "decoding the re-encoded %s", once)
		require.Equal(t, l.Entry.Kind(), l2.Entry.Kind())
		require.True(t, l.Time.Equal(l2.Time))
		e1, err := json.Marshal(l.Entry)
		require.NoError(t, err)
		e2, err := json.Marshal(l2.Entry)
		require.NoError(t, err)
		require.JSONEq(t, string(e1), string(e2))
		twice, err := EncodeEntry(l2.Entry, l2.Time)
		require.NoError(t, err)
		require.Equal(t, string(once), string(twice))
	})
}
