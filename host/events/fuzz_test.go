package events

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// FuzzDecodeEvent checks that DecodeEvent never panics, that it rejects
// with ErrSchema or rig.ErrInvalid only, and that whatever it accepts
// encodes again into a payload it accepts, which then encodes to the same
// bytes: decoding and encoding lose nothing after one round.
func FuzzDecodeEvent(f *testing.F) {
	for _, ev := range sessionEvents("demo") {
		data, err := encode("rig-1", 1, ev)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte(`{"schema":1,"kind":"accuracy","rig":"r","session":"s","time":"2026-11-26T18:25:00+01:00","seq":9,"block":"b","neurons":2,"median_r":null,"per_neuron":[null,0.5]}`))
	f.Add([]byte(`{"schema":1,"kind":"trial","rig":"r","session":"s","time":"2026-11-26T17:25:00Z","seq":18446744073709551615,"block":"t","Block":"u"}`))
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
		require.Equal(t, m.Kind, m2.Kind)
		require.Equal(t, m.Rig, m2.Rig)
		require.Equal(t, m.Session, m2.Session)
		require.Equal(t, m.Seq, m2.Seq)
		require.True(t, m.Time.Equal(m2.Time))
		twice, err := encode(m2.Rig, m2.Seq, m2.Event)
		require.NoError(t, err)
		require.Equal(t, string(once), string(twice))
	})
}
