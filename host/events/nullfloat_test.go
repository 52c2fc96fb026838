package events

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNullFloatWritesAsEncodingJSON: defined values are written exactly as
// encoding/json writes a float64 (as the maps the host used to publish
// were), undefined ones as null.
func TestNullFloatWritesAsEncodingJSON(t *testing.T) {
	values := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1e-6, 9.99e-7, -1e-7, 1e20, 1e21, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		values = append(values, math.Float64frombits(rng.Uint64()))
	}
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		want, err := json.Marshal(v)
		require.NoError(t, err)
		got, err := json.Marshal(NullFloat(v))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%v", v)
		var back NullFloat
		require.NoError(t, json.Unmarshal(got, &back))
		require.Equal(t, math.Float64bits(v), math.Float64bits(float64(back)), "%v reads back", v)
	}
}

func TestNullFloatUndefined(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		got, err := json.Marshal(NullFloat(v))
		require.NoError(t, err)
		require.Equal(t, "null", string(got))
		require.False(t, NullFloat(v).Defined())
	}
	var s struct {
		F NullFloat `json:"f"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"f":null}`), &s))
	require.True(t, math.IsNaN(float64(s.F)))
	require.Error(t, json.Unmarshal([]byte(`{"f":"1"}`), &s))
	require.Error(t, json.Unmarshal([]byte(`{"f":true}`), &s))
	require.Error(t, new(NullFloat).UnmarshalJSON([]byte(`Inf`)))
	require.Error(t, new(NullFloat).UnmarshalJSON([]byte(`0x10`)))
	require.Error(t, new(NullFloat).UnmarshalJSON([]byte(`1e999`)))
}

func TestNullFloats(t *testing.T) {
	tests := []struct {
		name string
		in   NullFloats
		want string
	}{
		{"nil", nil, `[]`},
		{"values and NaN", NullFloats{0.25, math.NaN(), -1, math.Inf(1)}, `[0.25,null,-1,null]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
		})
	}
	var fs NullFloats
	require.NoError(t, json.Unmarshal([]byte(` [0.5, null, 1e-7] `), &fs))
	require.Len(t, fs, 3)
	require.Equal(t, 0.5, fs[0])
	require.True(t, math.IsNaN(fs[1]))
	require.Equal(t, 1e-7, fs[2])
	require.NoError(t, json.Unmarshal([]byte(`null`), &fs))
	require.Nil(t, fs)
	require.NoError(t, json.Unmarshal([]byte(`[]`), &fs))
	require.NotNil(t, fs)
	require.Empty(t, fs)
	require.Error(t, json.Unmarshal([]byte(`[1,"x"]`), &fs))
	require.Error(t, json.Unmarshal([]byte(`{}`), &fs))
}
