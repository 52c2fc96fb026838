package modelplugin_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/modelplugin"
	"github.com/twinrig/twinrig/rig"
)

// FuzzParseSettings: any settings bytes give settings or an error wrapping
// rig.ErrInvalid, never a panic.
func FuzzParseSettings(f *testing.F) {
	f.Add([]byte(`{"model": "builtin:default", "neurons": 100, "seed": 3, "device": "cpu", "threads": 1}`))
	f.Add([]byte(`{"model": "m.onnx", "ort_library": "/x/lib.so"}`))
	f.Add([]byte(`{"neurons": -1, "device": "tpu"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := modelplugin.ParseSettings(raw); err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
		}
	})
}
