package modelplugin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/twinrig/twinrig/rig"
)

// FuzzLoadReadout: any file content gives a readout that fits the model or
// an error wrapping rig.ErrInvalid, never a panic.
func FuzzLoadReadout(f *testing.F) {
	fm := &featureMap{channels: 2, positions: 3}
	dir := f.TempDir()
	good := filepath.Join(dir, "good.json")
	r := &readout{fm: *fm, position: []int{2}, w: mat.NewDense(1, 6, []float64{0.5, -1, 0, 0, 0.25, 0}), b: []float64{0.1}, ids: []string{"a"}, gamma: 0.9}
	require.NoError(f, saveReadout(good, "abc", r))
	data, err := os.ReadFile(good)
	require.NoError(f, err)
	f.Add(data)
	f.Add([]byte(`{"schema":2,"model_sha256":"abc","channels":2,"positions":3,"extras":4,"neurons":1,"position":[7],"bias":[0],"weights":"AAAA"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "r.json")
		require.NoError(t, os.WriteFile(path, data, 0o600))
		got, err := loadReadout(path, "abc", fm)
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		rows, cols := got.w.Dims()
		require.Equal(t, fm.channels+behaviourValues, cols)
		require.Len(t, got.b, rows)
		require.Len(t, got.position, rows)
		for _, p := range got.position {
			require.True(t, p >= 0 && p < fm.positions)
		}
	})
}

func TestReadoutFileRoundTrip(t *testing.T) {
	fm := &featureMap{channels: 2, positions: 5}
	r := &readout{fm: *fm, position: []int{4, 0}, w: mat.NewDense(2, 6, []float64{1, 2, 3, 4, 5, -6e-7, 7, 8, 9, 10, 11, 12}),
		b: []float64{0.5, -0.5}, ids: []string{"x", "y"}, gamma: 0.97}
	path := filepath.Join(t.TempDir(), "r.json")
	require.NoError(t, saveReadout(path, "sum", r))
	got, err := loadReadout(path, "sum", fm)
	require.NoError(t, err)
	require.True(t, mat.Equal(r.w, got.w))
	require.Equal(t, r.b, got.b)
	require.Equal(t, r.position, got.position)
	require.Equal(t, r.ids, got.ids)
	require.Equal(t, r.gamma, got.gamma)

	_, err = loadReadout(path, "other", fm)
	require.ErrorContains(t, err, "fitted for the model with SHA-256 sum, this model's is other")
	_, err = loadReadout(path, "sum", &featureMap{channels: 2, positions: 4})
	require.ErrorContains(t, err, "2 channels at 5 positions, this model's features have 2 at 4")
	_, err = loadReadout(path, "sum", nil)
	require.ErrorContains(t, err, "no features output")
}

func TestBfloat16(t *testing.T) {
	for _, v := range []float32{0, 1, -1, 3.14159, 1e-20, 6e4, -2.5e-3} {
		got := fromBfloat16(toBfloat16(v))
		require.InDelta(t, v, got, float64(abs32(v))*(1.0/256), "%v", v)
	}
	// Round to nearest, ties to even: 1 + 2^-8 is halfway between two
	// bfloat16 values and rounds to 1.
	require.Equal(t, float32(1), fromBfloat16(toBfloat16(1+1.0/256)))
	require.Equal(t, float32(1+1.0/128), fromBfloat16(toBfloat16(1+3.0/512)))
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}
