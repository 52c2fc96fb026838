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
	p := &pooler{ph: 1, pw: 1, out: 2}
	dir := f.TempDir()
	good := filepath.Join(dir, "good.json")
	r := &readout{w: mat.NewDense(2, 1, []float64{0.5, -1}), b: []float64{0.1}, ids: []string{"a"}, gamma: 0.9}
	require.NoError(f, saveReadout(good, "abc", p, r))
	data, err := os.ReadFile(good)
	require.NoError(f, err)
	f.Add(data)
	f.Add([]byte(`{"schema":1,"model_sha256":"abc","features":2,"pool_h":1,"pool_w":1,"neurons":1,"bias":[0],"weights":"AAAA"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "r.json")
		require.NoError(t, os.WriteFile(path, data, 0o600))
		got, err := loadReadout(path, "abc", p)
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		rows, cols := got.w.Dims()
		require.Equal(t, p.out, rows)
		require.Len(t, got.b, cols)
	})
}

func TestReadoutFileRoundTrip(t *testing.T) {
	p := &pooler{ph: 2, pw: 4, out: 3}
	r := &readout{w: mat.NewDense(3, 2, []float64{1, 2, 3, 4, 5, -6e-7}), b: []float64{0.5, -0.5}, ids: []string{"x", "y"}, gamma: 0.97}
	path := filepath.Join(t.TempDir(), "r.json")
	require.NoError(t, saveReadout(path, "sum", p, r))
	got, err := loadReadout(path, "sum", p)
	require.NoError(t, err)
	require.True(t, mat.Equal(r.w, got.w))
	require.Equal(t, r.b, got.b)
	require.Equal(t, r.ids, got.ids)
	require.Equal(t, r.gamma, got.gamma)

	_, err = loadReadout(path, "other", p)
	require.ErrorContains(t, err, "fitted for the model with SHA-256 sum, this model's is other")
	_, err = loadReadout(path, "sum", &pooler{ph: 1, pw: 1, out: 3})
	require.ErrorContains(t, err, "3 features pooled 2x4, this model gives 3 pooled 1x1")
}
