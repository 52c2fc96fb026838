package stimuli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenCases are rendered frame by frame and hashed; the hashes live in
// testdata/golden.json.
var goldenCases = []struct {
	name          string
	spec          string
	width, height int
	rateHz        float64
	frames        int
}{
	{"blank-default", `{"family":"blank"}`, 256, 144, 60, 3},
	{"blank-level", `{"family":"blank","seed":3,"level":17}`, 64, 36, 30, 3},
	{"grating-default", `{"family":"grating","seed":1}`, 256, 144, 60, 120},
	{"grating-oblique", `{"family":"grating","seed":1,"orientation_deg":-30,"cycles_per_width":6.5,"temporal_freq_hz":3.3,"contrast":0.4,"phase_deg":90}`, 256, 144, 60, 120},
	{"grating-segments", `{"family":"grating","seed":42,"segment_frames":7,"temporal_freq_hz":1}`, 128, 72, 30, 200},
	{"grating-odd-size", `{"family":"grating","seed":1,"orientation_deg":45,"cycles_per_width":2}`, 33, 17, 60, 30},
	{"gabor-default", `{"family":"gabor","seed":1}`, 256, 144, 60, 60},
	{"gabor-patches", `{"family":"gabor","orientation_deg":-30,"cycles_per_width":12,"temporal_freq_hz":3,"phase_deg":45,"contrast":0.6,"sigma":0.05,"positions":[[0.2,0.3],[0.25,0.35],[0.9,0.9]]}`, 128, 72, 30, 40},
	{"dots-default", `{"family":"dots","seed":1}`, 256, 144, 60, 200},
	{"dots-random", `{"family":"dots","seed":7,"layout":"random","polarity":"off","sigma":0.05,"contrast":0.5,"on_frames":3,"off_frames":2}`, 64, 36, 30, 100},
	{"pink_noise-default", `{"family":"pink_noise","seed":1}`, 128, 72, 60, 60},
	{"pink_noise-oblique", `{"family":"pink_noise","seed":2,"alpha":2,"contrast":0.3,"direction_deg":135,"speed":0.37}`, 100, 50, 30, 40},
	{"rdk-default", `{"family":"rdk","seed":1}`, 256, 144, 60, 60},
	{"rdk-params", `{"family":"rdk","seed":3,"coherence":0.8,"direction_deg":200,"speed":0.5,"density":400,"dot_radius":0.02,"lifetime":5,"polarity":"on","contrast":0.7}`, 64, 48, 30, 40},
	{"natural-default", `{"family":"natural","seed":1}`, 128, 72, 60, 60},
	{"natural-params", `{"family":"natural","seed":9,"alpha":1.5,"contrast":0.4,"objects":12,"drift_speed":0.2,"object_speed":0.3}`, 96, 54, 30, 30},
	{"images-default", `{"family":"images","seed":1,"count":3,"on_frames":4,"off_frames":2}`, 64, 36, 30, 20},
	{"images-files", `{"family":"images","paths":["testdata/images/gradient.png","testdata/images/colour.png"],"on_frames":2,"off_frames":1}`, 48, 27, 60, 8},
	{"images-contain", `{"family":"images","paths":["testdata/images/colour.png"],"fit":"contain","on_frames":1,"off_frames":0}`, 64, 36, 60, 2},
	{"images-stretch", `{"family":"images","paths":["testdata/images/gradient.png"],"fit":"stretch","on_frames":1,"off_frames":1}`, 640, 360, 60, 2},
	{"video-default", `{"family":"video","seed":1}`, 64, 36, 60, 30},
	{"video-sequence", `{"family":"video","path":"testdata/sequence","source_rate_hz":15}`, 64, 36, 30, 20},
	{"video-glob", `{"family":"video","path":"testdata/sequence/frame00[0-3].png","fit":"contain"}`, 40, 40, 60, 10},
	{"frames-default", `{"family":"frames","seed":1}`, 64, 36, 60, 130},
	{"frames-base64", `{"family":"frames","width":2,"height":2,"frames":["AID/QA==","/wAAgA=="],"hold_frames":2}`, 8, 8, 60, 6},
	{"frames-raw", `{"family":"frames","width":8,"height":4,"path":"testdata/frames.raw","fit":"cover"}`, 20, 20, 60, 4},
}

// hashFrames renders frames [0, n) and hashes them in order.
func hashFrames(t *testing.T, seq Sequence, width, height, n int) string {
	t.Helper()
	h := sha256.New()
	buf := make([]byte, width*height)
	for i := range n {
		seq.Render(i, buf)
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "golden.json")
	got := map[string]string{}
	for _, tc := range goldenCases {
		seq, err := New(json.RawMessage(tc.spec), tc.width, tc.height, tc.rateHz)
		require.NoError(t, err, tc.name)
		got[tc.name] = hashFrames(t, seq, tc.width, tc.height, tc.frames)
	}
	if *update {
		data, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, append(data, '\n'), 0o644))
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run go test -run TestGolden -update")
	var want map[string]string
	require.NoError(t, json.Unmarshal(data, &want))
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, want[tc.name], got[tc.name], "frames of %s differ from the golden hash (-update rewrites it)", tc.spec)
		})
	}
}

func TestDeterministicAndOrderIndependent(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(json.RawMessage(tc.spec), tc.width, tc.height, tc.rateHz)
			require.NoError(t, err)
			b, err := New(json.RawMessage(tc.spec), tc.width, tc.height, tc.rateHz)
			require.NoError(t, err)
			fa := make([]byte, tc.width*tc.height)
			fb := make([]byte, tc.width*tc.height)
			// b renders backwards: a frame must not depend on what was
			// rendered before it.
			n := min(tc.frames, 60)
			for i := range n {
				a.Render(i, fa)
				b.Render(n-1-i, fb)
				b.Render(i, fb)
				require.Equal(t, fa, fb, "frame %d", i)
			}
		})
	}
}

func TestSeedChangesSegments(t *testing.T) {
	render := func(seed int) []byte {
		spec := json.RawMessage(`{"family":"grating","segment_frames":2,"seed":` + itoa(seed) + `}`)
		seq, err := New(spec, 32, 18, 60)
		require.NoError(t, err)
		var all []byte
		buf := make([]byte, 32*18)
		for i := range 40 {
			seq.Render(i, buf)
			all = append(all, buf...)
		}
		return all
	}
	require.Equal(t, render(5), render(5))
	require.NotEqual(t, render(5), render(6))
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestFamilies(t *testing.T) {
	require.Equal(t, []string{"blank", "dots", "frames", "gabor", "grating", "images", "natural", "pink_noise", "rdk", "video"}, Families())
	f := Families()
	f[0] = "changed"
	require.Equal(t, "blank", Families()[0], "Families must return a copy")
}

func TestBlank(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want byte
	}{
		{`{"family":"blank"}`, 128},
		{`{"family":"blank","level":null}`, 128},
		{`{"family":"blank","level":0}`, 0},
		{`{"family":"blank","level":255,"seed":9}`, 255},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			seq, err := New(json.RawMessage(tc.spec), 7, 5, 60)
			require.NoError(t, err)
			buf := make([]byte, 35)
			seq.Render(12, buf)
			for _, v := range buf {
				require.Equal(t, tc.want, v)
			}
		})
	}
}

func TestRenderWrongSizePanics(t *testing.T) {
	for _, spec := range []string{`{"family":"blank"}`, `{"family":"grating"}`} {
		seq, err := New(json.RawMessage(spec), 8, 4, 60)
		require.NoError(t, err)
		require.PanicsWithValue(t, "stimuli: Render into 31 bytes, want 8x4 = 32", func() { seq.Render(0, make([]byte, 31)) })
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		name          string
		spec          string
		width, height int
		rateHz        float64
		want          []string // each must appear in the error
	}{
		{"not json", `{`, 256, 144, 60, []string{"is not a JSON object"}},
		{"not an object", `[1,2]`, 256, 144, 60, []string{"[1,2] is not a JSON object"}},
		{"null", `null`, 256, 144, 60, []string{"is not a JSON object"}},
		{"empty", ``, 256, 144, 60, []string{"empty input is not a JSON object"}},
		{"no family", `{"seed":1}`, 256, 144, 60, []string{`field "family": missing, want one of blank, dots, frames, gabor, grating, images, natural, pink_noise, rdk, video`}},
		{"family not string", `{"family":3}`, 256, 144, 60, []string{`field "family": 3 is not a string`}},
		{"unknown family", `{"family":"plaid"}`, 256, 144, 60, []string{`"plaid" is not a known family, want one of blank, dots, frames, gabor, grating, images, natural, pink_noise, rdk, video`}},
		{"unknown field", `{"family":"grating","contrasts":1}`, 256, 144, 60, []string{`unknown field "contrasts" for family "grating"`, "contrast, phase_deg"}},
		{"field of other family", `{"family":"blank","contrast":1}`, 256, 144, 60, []string{`unknown field "contrast" for family "blank", want one of family, seed, level`}},
		{"contrast high", `{"family":"grating","contrast":1.7}`, 256, 144, 60, []string{`stimulus spec: field "contrast": 1.7 out of range [0,1]`}},
		{"contrast negative", `{"family":"grating","contrast":-0.1}`, 256, 144, 60, []string{`field "contrast": -0.1 out of range [0,1]`}},
		{"contrast string", `{"family":"grating","contrast":"high"}`, 256, 144, 60, []string{`field "contrast": "high" is not a finite number`}},
		{"contrast huge", `{"family":"grating","contrast":1e999}`, 256, 144, 60, []string{`field "contrast": 1e999 is not a finite number`}},
		{"above nyquist", `{"family":"grating","cycles_per_width":65}`, 128, 72, 60, []string{`field "cycles_per_width": 65 out of range [0,64]`}},
		{"tf above nyquist", `{"family":"grating","temporal_freq_hz":16}`, 128, 72, 30, []string{`field "temporal_freq_hz": 16 out of range [0,15]`}},
		{"orientation", `{"family":"grating","orientation_deg":400}`, 128, 72, 30, []string{`field "orientation_deg": 400 out of range [-360,360]`}},
		{"phase", `{"family":"grating","phase_deg":-361}`, 128, 72, 30, []string{`field "phase_deg": -361 out of range [-360,360]`}},
		{"segment negative", `{"family":"grating","segment_frames":-1}`, 128, 72, 30, []string{`field "segment_frames": -1 out of range [0,2147483647]`}},
		{"segment fraction", `{"family":"grating","segment_frames":2.5}`, 128, 72, 30, []string{`field "segment_frames": 2.5 is not an integer`}},
		{"orientations empty", `{"family":"grating","segment_frames":2,"orientations_deg":[]}`, 128, 72, 30, []string{`field "orientations_deg": 0 entries, want 1 to 360`}},
		{"orientations not list", `{"family":"grating","orientations_deg":45}`, 128, 72, 30, []string{`field "orientations_deg": 45 is not a list of finite numbers`}},
		{"orientations range", `{"family":"grating","orientations_deg":[0,720]}`, 128, 72, 30, []string{`field "orientations_deg": entry 1: 720 out of range [-360,360]`}},
		{"orientations repeat", `{"family":"grating","segment_frames":3,"orientations_deg":[0,90,-270]}`, 128, 72, 30, []string{`field "orientations_deg": entry 2: -270 repeats entry 1`}},
		{"level", `{"family":"blank","level":256}`, 8, 8, 30, []string{`field "level": 256 out of range [0,255]`}},
		{"seed float", `{"family":"grating","seed":1.5}`, 8, 8, 30, []string{`field "seed": 1.5 is not a 64-bit integer`}},
		{"seed string", `{"family":"grating","seed":"1"}`, 8, 8, 30, []string{`field "seed": "1" is not a 64-bit integer`}},
		{"all problems at once", `{"family":"grating","contrast":2,"phase_deg":1000,"bogus":1}`, 8, 8, 30, []string{`unknown field "bogus"`, `field "contrast": 2`, `field "phase_deg": 1000`}},
		{"width zero", `{"family":"blank"}`, 0, 8, 30, []string{"stimulus size: 0x8 out of range"}},
		{"height huge", `{"family":"blank"}`, 8, 20000, 30, []string{"stimulus size: 8x20000 out of range, want width and height in [1,16384]"}},
		{"rate zero", `{"family":"blank"}`, 8, 8, 0, []string{"stimulus rate: 0 Hz out of range (0,1000]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq, err := New(json.RawMessage(tc.spec), tc.width, tc.height, tc.rateHz)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.Nil(t, seq)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestValidEdgeCases(t *testing.T) {
	for _, spec := range []string{
		`{"family":"grating","seed":-5}`,
		`{"family":"grating","seed":18446744073709551615}`,
		`{"family":"grating","cycles_per_width":0,"temporal_freq_hz":0}`,
		`{"family":"grating","cycles_per_width":64,"temporal_freq_hz":30}`,
		`{"family":"grating","segment_frames":1,"orientations_deg":[45]}`,
		`{"family":"grating","segment_frames":1,"orientations_deg":[0,90]}`,
		`{"family":"grating","orientations_deg":[0,0]}`, // ignored without segments
		`{"family":"grating","contrast":null,"phase_deg":null}`,
	} {
		t.Run(spec, func(t *testing.T) {
			seq, err := New(json.RawMessage(spec), 128, 72, 60)
			require.NoError(t, err)
			buf := make([]byte, 128*72)
			for _, i := range []int{0, 1, 5, -3, 1 << 40} {
				seq.Render(i, buf)
			}
		})
	}
}

func FuzzNew(f *testing.F) {
	for _, tc := range goldenCases {
		f.Add([]byte(tc.spec))
	}
	f.Add([]byte(`{"family":"grating","segment_frames":1,"orientations_deg":[0,90,180,-90.5]}`))
	f.Add([]byte(`{"family":"grating","contrast":"x","level":3}`))
	f.Add([]byte(`{"family":"blank","level":-1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"family":"gabor","positions":[[0,0],[1,1]],"sigma":1}`))
	f.Add([]byte(`{"family":"dots","rows":1,"cols":1,"on_frames":1,"off_frames":0}`))
	f.Add([]byte(`{"family":"rdk","lifetime":0,"coherence":1,"density":10000,"dot_radius":0.25}`))
	f.Add([]byte(`{"family":"pink_noise","alpha":0,"speed":10}`))
	f.Add([]byte(`{"family":"frames","width":1,"height":1,"frames":["AA=="]}`))
	f.Add([]byte(`{"family":"frames","width":2,"height":1,"frames":["AA=="]}`))
	f.Add([]byte(`{"family":"images","paths":["testdata/images/corrupt.png"]}`))
	f.Add([]byte(`{"family":"video","path":"testdata/nonexistent*.png"}`))
	f.Fuzz(func(t *testing.T, spec []byte) {
		const w, h = 24, 16
		seq, err := New(json.RawMessage(spec), w, h, 60)
		if err != nil {
			if !errors.Is(err, rig.ErrInvalid) {
				t.Fatalf("New(%q) error %v does not wrap rig.ErrInvalid", spec, err)
			}
			if seq != nil {
				t.Fatalf("New(%q) returned a Sequence with an error", spec)
			}
			return
		}
		a := make([]byte, w*h)
		b := make([]byte, w*h)
		for _, i := range []int{0, 1, 2, 17, 1000, -1} {
			seq.Render(i, a)
			seq.Render(i, b)
			if string(a) != string(b) {
				t.Fatalf("New(%q): frame %d differs between two renders", spec, i)
			}
		}
	})
}
