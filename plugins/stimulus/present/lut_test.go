package present

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// lutJSON encodes levels as a JSON list.
func lutJSON(levels []int) string {
	parts := make([]string, len(levels))
	for i, l := range levels {
		parts[i] = fmt.Sprint(l)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// gammaLevels is a plausible inverse-gamma table (gamma 2.2 corrected).
func gammaLevels() []int {
	l := make([]int, 256)
	for i := range l {
		l[i] = i * i / 255
	}
	return l
}

func TestParseLUT(t *testing.T) {
	valid := gammaLevels()
	withSpaces := strings.ReplaceAll(lutJSON(valid), ",", " ,\n ")
	set := func(i, v int) []int {
		l := append([]int(nil), valid...)
		l[i] = v
		return l
	}
	cases := []struct {
		name string
		in   string
		// want is empty for a valid table, else words of the error.
		want []string
	}{
		{"valid", lutJSON(valid), nil},
		{"whitespace", withSpaces, nil},
		{"identity", lutJSON(func() []int {
			l := make([]int, 256)
			for i := range l {
				l[i] = i
			}
			return l
		}()), nil},
		{"not json", `levels: 1 2 3`, []string{"not a JSON list"}},
		{"object", `{"levels":[1]}`, []string{"not a JSON list"}},
		{"null", `null`, []string{"not a JSON list"}},
		{"too short", lutJSON(valid[:255]), []string{"255 entries, want 256"}},
		{"too long", lutJSON(append(valid, 255)), []string{"257 entries, want 256"}},
		{"above 255", lutJSON(set(255, 256)), []string{"entry 255", "256 is not an integer in [0,255]"}},
		{"negative", lutJSON(set(0, -1)), []string{"entry 0", "-1 is not an integer"}},
		{"fraction", strings.Replace(lutJSON(valid), "[0,", "[0.5,", 1), []string{"entry 0", "0.5 is not an integer"}},
		{"string entry", strings.Replace(lutJSON(valid), "[0,", `["0",`, 1), []string{"entry 0", `"0" is not an integer`}},
		{"decreasing", lutJSON(set(100, 3)), []string{"entry 100", "3 is below entry 99"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLUT([]byte(tc.in))
			if tc.want == nil {
				require.NoError(t, err)
				var want []int
				require.NoError(t, json.Unmarshal([]byte(tc.in), &want))
				for i := range got {
					require.Equal(t, want[i], int(got[i]), "entry %d", i)
				}
				return
			}
			require.ErrorIs(t, err, rig.ErrInvalid)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestLoadLUT(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	require.NoError(t, os.WriteFile(good, []byte(lutJSON(gammaLevels())), 0o600))
	bad := filepath.Join(dir, "bad.json")
	levels := gammaLevels()
	levels[17] = 300
	require.NoError(t, os.WriteFile(bad, []byte(lutJSON(levels)), 0o600))

	l, err := LoadLUT(good)
	require.NoError(t, err)
	require.Equal(t, byte(128*128/255), l[128])

	_, err = LoadLUT(bad)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, bad, "the error names the file")
	require.ErrorContains(t, err, "entry 17", "the error names the entry")

	missing := filepath.Join(dir, "missing.json")
	_, err = LoadLUT(missing)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, missing)
}

func TestLUTPaddedRGBA(t *testing.T) {
	var l LUT
	for i := range l {
		l[i] = byte(255 - i)
	}
	// 3 x 2 frame; each output pixel is given by its gray level after the LUT.
	gray := []byte{
		0, 1, 2,
		10, 11, 12,
	}
	want := []byte{
		255, 255, 254, 253, 253,
		255, 255, 254, 253, 253,
		245, 245, 244, 243, 243,
		245, 245, 244, 243, 243,
	}
	dst := make([]byte, 4*5*4)
	l.PaddedRGBA(dst, gray, 3, 2)
	for i, v := range want {
		require.Equal(t, []byte{v, v, v, 255}, dst[4*i:4*i+4], "pixel (%d,%d)", i%5, i/5)
	}
	require.Panics(t, func() { l.PaddedRGBA(dst[:4], gray, 3, 2) }, "short dst")
	require.Panics(t, func() { l.PaddedRGBA(dst, gray[:5], 3, 2) }, "short frame")
}

func FuzzParseLUT(f *testing.F) {
	f.Add([]byte(lutJSON(gammaLevels())))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[-0,1e2]`))
	f.Add([]byte(strings.Repeat("7,", 255) + "7"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLUT(data)
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		levels := make([]int, len(l))
		for i, v := range l {
			levels[i] = int(v)
			if i > 0 {
				require.GreaterOrEqual(t, v, l[i-1], "entry %d decreases", i)
			}
		}
		// An accepted table survives a round trip through its JSON form.
		again, err := ParseLUT([]byte(lutJSON(levels)))
		require.NoError(t, err)
		require.Equal(t, l, again)
	})
}

func BenchmarkLUTPaddedRGBA(b *testing.B) {
	const w, h = 256, 144
	l := IdentityLUT()
	gray := make([]byte, w*h)
	dst := make([]byte, 4*(w+2)*(h+2))
	b.ReportAllocs()
	b.SetBytes(int64(len(gray)))
	for b.Loop() {
		l.PaddedRGBA(dst, gray, w, h)
	}
}
