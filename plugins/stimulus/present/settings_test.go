package present

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

func TestParseSettingsValid(t *testing.T) {
	full := DefaultSettings()
	full.Display = DisplayFullscreen
	full.Monitor = 1
	full.Width, full.Height = 800, 450
	full.RefreshHz = 144
	full.GammaLUT = "cal/lut.json"
	full.Photodiode = Photodiode{Corner: CornerBottomRight, SizePx: 64, Mode: PatchOnset}
	partial := DefaultSettings()
	partial.Photodiode.Corner = CornerNone
	cases := []struct {
		name string
		in   string
		want Settings
	}{
		{"empty input", ``, DefaultSettings()},
		{"null", `null`, DefaultSettings()},
		{"empty object", `{}`, DefaultSettings()},
		{"every field", `{"display":"fullscreen","monitor":1,"width":800,"height":450,"refresh_hz":144,
			"gamma_lut":"cal/lut.json","photodiode":{"corner":"bottom-right","size_px":64,"mode":"onset"}}`, full},
		{"photodiode keeps unset defaults", `{"photodiode":{"corner":"none"}}`, partial},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSettings([]byte(tc.in))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseSettingsInvalid(t *testing.T) {
	cases := []struct {
		name, in string
		// want appear in the error message: the field and the bad value.
		want []string
	}{
		{"not an object", `[1,2]`, []string{"not a JSON object"}},
		{"unknown field", `{"displya":"window"}`, []string{`"displya"`, "unknown field"}},
		{"display value", `{"display":"tv"}`, []string{`"display"`, `"tv"`, "auto, window, fullscreen, headless"}},
		{"display type", `{"display":1}`, []string{`"display"`, "1 is not one of"}},
		{"monitor negative", `{"monitor":-1}`, []string{`"monitor"`, "-1 is out of range"}},
		{"monitor fraction", `{"monitor":0.5}`, []string{`"monitor"`, "0.5 is not an integer"}},
		{"width zero", `{"width":0}`, []string{`"width"`, "0 is out of range"}},
		{"width string", `{"width":"wide"}`, []string{`"width"`, `"wide" is not an integer`}},
		{"height too big", `{"height":100000}`, []string{`"height"`, "100000 is out of range"}},
		{"refresh zero", `{"refresh_hz":0}`, []string{`"refresh_hz"`, "0 is out of range"}},
		{"refresh too fast", `{"refresh_hz":5000}`, []string{`"refresh_hz"`, "5000 is out of range"}},
		{"refresh string", `{"refresh_hz":"60"}`, []string{`"refresh_hz"`, "not a number"}},
		{"gamma_lut type", `{"gamma_lut":7}`, []string{`"gamma_lut"`, "7 is not a string"}},
		{"photodiode type", `{"photodiode":true}`, []string{`"photodiode"`, "not a JSON object"}},
		{"photodiode corner", `{"photodiode":{"corner":"middle"}}`, []string{`"photodiode.corner"`, `"middle"`}},
		{"photodiode size", `{"photodiode":{"size_px":0}}`, []string{`"photodiode.size_px"`, "0 is out of range"}},
		{"photodiode mode", `{"photodiode":{"mode":"blink"}}`, []string{`"photodiode.mode"`, `"blink"`, "parity, onset"}},
		{"photodiode unknown", `{"photodiode":{"colour":"red"}}`, []string{`"photodiode.colour"`, "unknown field"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSettings([]byte(tc.in))
			require.ErrorIs(t, err, rig.ErrInvalid)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestParseSettingsReportsEveryProblem(t *testing.T) {
	_, err := ParseSettings([]byte(`{"width":-3,"height":"x","bogus":1,"photodiode":{"mode":"?"}}`))
	require.ErrorIs(t, err, rig.ErrInvalid)
	for _, field := range []string{`"width"`, `"height"`, `"bogus"`, `"photodiode.mode"`} {
		require.ErrorContains(t, err, field)
	}
}

func TestSettingsRateHz(t *testing.T) {
	s := DefaultSettings()
	require.Equal(t, DefaultHeadlessRateHz, s.RateHz(false))
	require.Equal(t, DefaultDisplayRateHz, s.RateHz(true))
	s.RefreshHz = 75
	require.Equal(t, 75.0, s.RateHz(false))
	require.Equal(t, 75.0, s.RateHz(true))
}

func FuzzParseSettings(f *testing.F) {
	for _, seed := range []string{``, `{}`, `{"display":"window","width":640}`, `{"photodiode":{"corner":"top-right","size_px":3}}`,
		`{"refresh_hz":1e3}`, `{"monitor":"0"}`, `[`, `{"a":{"b":[]}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSettings(data)
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		require.Contains(t, displayModes, s.Display)
		require.Contains(t, corners, s.Photodiode.Corner)
		require.Contains(t, patchModes, s.Photodiode.Mode)
		require.True(t, s.Width >= 1 && s.Width <= MaxWindowSize && s.Height >= 1 && s.Height <= MaxWindowSize, "size %dx%d", s.Width, s.Height)
		require.True(t, s.Monitor >= 0 && s.Monitor <= MaxMonitor, "monitor %d", s.Monitor)
		require.True(t, s.Photodiode.SizePx >= 1 && s.Photodiode.SizePx <= MaxPatchSize, "patch %d", s.Photodiode.SizePx)
		rate := s.RateHz(true)
		require.True(t, rate > 0 && rate <= 1000, "rate %g", rate)
		// Only JSON, or nothing at all, is accepted.
		blank := len(bytes.Trim(data, jsonSpace)) == 0
		require.True(t, blank || json.Valid(data), "accepted invalid JSON %q", data)
	})
}
