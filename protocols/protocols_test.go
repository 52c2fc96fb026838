package protocols_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

func TestVersion1ProtocolsLoad(t *testing.T) {
	files, err := filepath.Glob("testdata/v1/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files, "the format 1 originals of the shipped protocols")
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			e, err := protocols.LoadExperiment(f)
			require.NoError(t, err)
			require.Equal(t, protocols.Version, e.Version)
			p, err := protocols.Load(f)
			require.NoError(t, err)
			require.NotEmpty(t, p.Blocks)
			for _, b := range p.Blocks {
				var spec map[string]any
				require.NoError(t, json.Unmarshal(b.Stimulus, &spec))
				require.NotEmpty(t, spec["family"])
			}
		})
	}
}

func TestParseGratings(t *testing.T) {
	p, err := protocols.Load("testdata/v1/gratings.yaml")
	require.NoError(t, err)
	require.Equal(t, "gratings-60s", p.Name)
	require.Equal(t, 62*time.Second, p.Duration())
	require.Equal(t, "gratings", p.Blocks[1].Name)
	require.Equal(t, 1, p.Blocks[1].Repeats, "default")
	require.Equal(t, 1800, p.Blocks[1].Frames(30))
	require.JSONEq(t, `{"family":"grating","seed":7,"cycles_per_width":4,"temporal_freq_hz":2,"contrast":1,"segment_frames":30}`,
		string(p.Blocks[1].Stimulus))
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
		lines      int
	}{
		{"empty", "", []string{"p.yaml: want exactly one YAML document"}, 1},
		{"syntax", "version: 1\nblocks: [\n", []string{"p.yaml:"}, 1},
		{"unknown field", "version: 1\nname: x\nbloks: []\n", []string{"p.yaml:3:1:", "bloks"}, 1},
		{"missing version and blocks", "# a comment\nname: x\n", []string{
			"p.yaml:2:1: version: missing", "p.yaml:2:1: blocks: missing"}, 2},
		{"bad version", "version: 2\nname: x\nblocks: []\n", []string{
			"p.yaml:1:10: version: 2 is not supported", "p.yaml:3:9: blocks: missing"}, 2},
		{"every block problem at once", `version: 1
name: ok
blocks:
  - name: a
    duration: 5 seconds
    stimulus: {family: grating}
  - name: a
    duration: -3s
    stimulus: {seed: 1}
  - name: "bad name"
    stimulus: {family: blank}
  - name: rep
    duration: 1s
    repeats: 0
    stimulus: {family: blank}
`, []string{
			`p.yaml:14:14: blocks[3].repeats: 0 out of range: want 1 to 10000`,
			`p.yaml:5:15: blocks[0].duration: "5 seconds" is not a duration`,
			`p.yaml:7:11: blocks[1].name: "a" names another block too`,
			`p.yaml:8:15: blocks[1].duration: -3s out of range`,
			`p.yaml:9:16: blocks[1].stimulus.family: missing`,
			`p.yaml:10:11: blocks[2].name: "bad name" is not a valid block name`,
			`p.yaml:10:5: blocks[2].duration: missing`,
		}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := protocols.Parse("p.yaml", []byte(tt.yaml))
			require.Error(t, err)
			require.ErrorIs(t, err, rig.ErrInvalid)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.Equal(t, tt.lines, strings.Count(err.Error(), "\n")+1, "one line per problem:\n%s", err)
		})
	}
}

func TestRepeatsMultiplyTheDuration(t *testing.T) {
	p, err := protocols.Parse("p.yaml", []byte("version: 1\nname: r\nblocks:\n  - {name: clip, duration: 2s, repeats: 5, stimulus: {family: natural}}\n"))
	require.NoError(t, err)
	require.Equal(t, 5, p.Blocks[0].Repeats)
	require.Equal(t, 10*time.Second, p.Duration())
}

func TestAdapt(t *testing.T) {
	p, err := protocols.Parse("p.yaml", []byte("version: 1\nname: a\nblocks:\n  - {name: map, duration: 5m, stimulus: {family: natural}, adapt: {indicator_decay: 1.25s}}\n  - {name: test, duration: 10s, stimulus: {family: natural}}\n"))
	require.NoError(t, err)
	require.Equal(t, &protocols.Adapt{IndicatorDecay: 1250 * time.Millisecond}, p.Blocks[0].Adapt)
	require.Nil(t, p.Blocks[1].Adapt)
	_, err = protocols.Parse("p.yaml", []byte("version: 1\nname: a\nblocks:\n  - {name: map, duration: 5m, stimulus: {family: natural}, adapt: {indicator_decay: slow}}\n"))
	require.ErrorContains(t, err, `blocks[0].adapt.indicator_decay: "slow": want a duration`)
	_, err = protocols.Parse("p.yaml", []byte("version: 1\nname: a\nblocks:\n  - {name: map, duration: 5m, stimulus: {family: natural}, adapt: {lambda: 3}}\n"))
	require.ErrorContains(t, err, "lambda")
}

func TestLoadMissingFile(t *testing.T) {
	_, err := protocols.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Contains(t, err.Error(), "nope.yaml")
}

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/v1/gratings.yaml")
	require.NoError(f, err)
	f.Add(seed)
	f.Add([]byte("version: 1\nname: x\nblocks:\n  - {name: a, duration: 1s, stimulus: {family: blank}}\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := protocols.Parse("fuzz.yaml", data)
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		require.NotEmpty(t, p.Blocks)
		for _, b := range p.Blocks {
			require.Positive(t, b.Duration)
			require.GreaterOrEqual(t, b.Repeats, 1)
			require.True(t, json.Valid(b.Stimulus))
		}
	})
}
