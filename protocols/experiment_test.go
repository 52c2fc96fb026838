package protocols_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// loop is a small valid closed loop; tests change it line by line.
const loop = `version: 2
name: loop
blocks:
  - present:
      name: map
      trials:
        - {duration: 1m, stimulus: {family: natural, seed: 1}}
  - present:
      name: test
      trials:
        - {duration: 5s, stimulus: {family: natural, seed: 2}}
        - {duration: 5s, stimulus: {family: natural, seed: 3}}
      repeats: 5
  - adapt:
      name: fit
      hold_out: [test]
  - select:
      name: sel
      neurons: {best: 3, from: test}
      pool:
        gabor: {}
  - verify:
      name: ver
      select: sel
`

func TestExperimentDefaults(t *testing.T) {
	e, err := protocols.ParseExperiment("loop.yaml", []byte(loop))
	require.NoError(t, err)
	require.Equal(t, protocols.ExperimentVersion, e.Version)
	require.Equal(t, "loop", e.Name)
	require.Equal(t, "blank", e.Blank.Family)
	require.JSONEq(t, `{"family":"blank"}`, string(e.Blank.Spec))
	require.Len(t, e.Stages, 5)

	test := e.Find("test")
	require.NotNil(t, test)
	require.Equal(t, protocols.KindPresent, test.Kind)
	require.Equal(t, protocols.OrderFixed, test.Present.Order)
	require.Equal(t, 5, test.Present.Repeats)
	require.Equal(t, 50*time.Second, test.Present.Duration())
	require.JSONEq(t, `{"family":"natural","seed":3}`, string(test.Present.Trials[1].Stimulus.Spec))
	require.Equal(t, 150, test.Present.Trials[0].Frames(30))

	fit := e.Find("fit").Adapt
	require.Equal(t, &protocols.AdaptBlock{From: []string{"map"}, HoldOut: []string{"test"}}, fit, "from defaults to the blocks shown once")

	sel := e.Find("sel").Select
	require.Equal(t, protocols.Targets{Best: 3, By: protocols.ScoreCCNorm, From: "test"}, sel.Neurons)
	require.Equal(t, &protocols.GaborPool{Orientations: 8, CyclesPerWidth: []float64{2.5, 4, 6.4}, Phases: 2,
		Sigmas: []float64{0.4}, Columns: 7, Rows: 4}, sel.Pool.Gabor)
	require.Nil(t, sel.Pool.Natural)
	require.Equal(t, 4, sel.Pool.Keep)
	require.Equal(t, 8*3*2*1*7*4, sel.Pool.Size())
	require.Equal(t, protocols.Synthesis{Images: 1, VideoDuration: time.Second, Contrast: 0.15, Mean: 128,
		Iterations: 20, Population: 16, Diversity: 0.5}, sel.Synthesise)

	ver := e.Find("ver").Verify
	require.Equal(t, &protocols.VerifyBlock{Select: "sel", Controls: []protocols.Control{protocols.ControlBestGabor, protocols.ControlBlank},
		Duration: time.Second, Repeats: 10, Order: protocols.OrderRandom, Alpha: protocols.DefaultAlpha}, ver)
	// 3 targets x (1 MEI + best Gabor) + 1 blank, 10 repeats of 1 s.
	require.Equal(t, 7, ver.TrialsPerRepeat(3, 1))
	require.Equal(t, time.Minute+50*time.Second+70*time.Second, e.Duration())
	require.True(t, e.Adapts())
	require.Nil(t, e.Find("nope"))
}

func TestExperimentFields(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clip.mp4"), nil, 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "img"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "img", "a.png"), nil, 0o644))
	src := `version: 2
name: all
description: every field
blank: {family: blank, level: 100}
inter_trial: 500ms
x-clip: &clip {family: natural, seed: 9}
blocks:
  - present:
      name: a
      trials:
        - {duration: 2s, stimulus: {family: video, path: clip.mp4, fit: cover}}
        - {duration: 2s, stimulus: {family: images, paths: [img/a.png], on_frames: 5}}
        - {duration: 1s, stimulus: *clip}
        - duration: 1s
          stimulus: {<<: *clip, seed: 10}
      repeats: 3
      order: random
      seed: 18446744073709551615
  - present: {name: b, trials: [{duration: 1s, stimulus: {family: blank}}], inter_trial: 0}
  - adapt: {name: fit, from: a, indicator_decay: 1.25s}
  - select:
      name: s
      neurons: {ids: [n3, "17"]}
      pool:
        natural: {clips: 10, duration: 500ms, seed: 5}
        noise: {count: 7, seed: 9}
        keep: 2
      synthesise: {images: 2, videos: 1, video_duration: 2s, contrast: 0.1, mean: 100, iterations: 5, population: 8, diversity: 0}
  - verify: {name: v, select: s, controls: [blank, best_noise], duration: 2s, repeats: 2, order: fixed, seed: 3, inter_trial: 1s, alpha: 0.01}
`
	name := filepath.Join(dir, "all.yaml")
	e, err := protocols.ParseExperiment(name, []byte(src))
	require.NoError(t, err)
	require.Equal(t, dir, e.Dir)
	require.Equal(t, "every field", e.Description)
	require.JSONEq(t, `{"family":"blank","level":100}`, string(e.Blank.Spec))
	require.Equal(t, 500*time.Millisecond, e.InterTrial)

	a := e.Stages[0].Present
	require.Equal(t, protocols.OrderRandom, a.Order)
	require.Equal(t, uint64(18446744073709551615), a.Seed)
	require.Equal(t, 500*time.Millisecond, a.InterTrial, "the experiment's default")
	require.Equal(t, 3*(6*time.Second+4*500*time.Millisecond), a.Duration())
	spec := func(i int) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal(a.Trials[i].Stimulus.Spec, &m))
		return m
	}
	require.Equal(t, filepath.Join(dir, "clip.mp4"), spec(0)["path"], "paths are made absolute")
	require.Equal(t, []any{filepath.Join(dir, "img", "a.png")}, spec(1)["paths"])
	require.Equal(t, "video", a.Trials[0].Stimulus.Family)
	require.Equal(t, map[string]any{"family": "natural", "seed": 9.0}, spec(2), "aliases")
	require.Equal(t, map[string]any{"family": "natural", "seed": 10.0}, spec(3), "merge keys")
	require.Zero(t, e.Stages[1].Present.InterTrial)

	require.Equal(t, &protocols.AdaptBlock{From: []string{"a"}, IndicatorDecay: 1250 * time.Millisecond}, e.Stages[2].Adapt)
	s := e.Stages[3].Select
	require.Equal(t, protocols.Targets{By: protocols.ScoreCCNorm, IDs: []string{"n3", "17"}}, s.Neurons)
	require.Equal(t, 2, s.Neurons.Count())
	require.Equal(t, &protocols.NaturalPool{Clips: 10, Duration: 500 * time.Millisecond, Seed: 5}, s.Pool.Natural)
	require.Equal(t, &protocols.NoisePool{Count: 7, Seed: 9}, s.Pool.Noise)
	require.Equal(t, 17, s.Pool.Size())
	require.Equal(t, protocols.Synthesis{Images: 2, Videos: 1, VideoDuration: 2 * time.Second, Contrast: 0.1, Mean: 100,
		Iterations: 5, Population: 8}, s.Synthesise)
	require.Equal(t, &protocols.VerifyBlock{Select: "s", Controls: []protocols.Control{protocols.ControlBlank, protocols.ControlBestNoise},
		Duration: 2 * time.Second, Repeats: 2, Order: protocols.OrderFixed, Seed: 3, InterTrial: time.Second, Alpha: 0.01}, e.Stages[4].Verify)
	// 2 targets x (3 MEIs + best noise) + blank = 9 stimuli, 2 repeats, 3 s each.
	require.Equal(t, a.Duration()+e.Stages[1].Present.Duration()+54*time.Second, e.Duration())
}

// problem is an expected problem: its place, field and part of its message.
type problem struct {
	at, field, msg string
}

func TestExperimentProblems(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []problem
	}{
		{"syntax", "version: 2\nblocks: [\n", []problem{{"", "", "invalid YAML"}}},
		{"empty", "", []problem{
			{"1:1", "", "want exactly one YAML document holding a protocol, found 0"},
		}},
		{"two documents", "version: 2\n---\nversion: 2\n", []problem{
			{"1:1", "", "want exactly one YAML document holding a protocol, found 2"},
		}},
		{"not a mapping", "- 1\n", []problem{
			{"1:1", "", "the file holds a list; want a mapping with version, name and blocks"},
		}},
		{"no version", "name: x\nblocks: []\n", []problem{
			{"1:1", "version", "missing: the protocol format version is required (this twinrig reads versions 1 and 2)"},
		}},
		{"unsupported version", "version: 3\nname: x\n", []problem{
			{"1:10", "version", "the number 3 is not supported: this twinrig reads versions 1 and 2"},
		}},
		{"missing name and blocks", "version: 2\n", []problem{
			{"1:1", "name", "missing: a protocol name is required"},
			{"1:1", "blocks", "missing: a protocol needs at least one block"},
		}},
		{"top level", `version: 2
name: "bad name"
bloks: []
inter_trial: 2h
blank: {seed: 1}
blocks: []
`, []problem{
			{"2:7", "name", "\"bad name\" is not a valid name: want letters, digits, '_', '.', '-'"},
			{"3:1", "bloks", "unknown key; want one of version, name, description, blank, inter_trial, blocks"},
			{"4:14", "inter_trial", "2h0m0s out of range: want 0 to 1h0m0s"},
			{"5:8", "blank.family", "missing: want the stimulus family as a string, e.g. natural"},
			{"6:9", "blocks", "missing: a protocol needs at least one block"},
		}},
		{"block entries", `version: 2
name: x
blocks:
  - present: {name: a, trials: [{duration: 1s, stimulus: {family: blank}}]}
  - show: {name: b}
  - present: {name: c, trials: [{duration: 1s, stimulus: {family: blank}}]}
    adapt: {name: d}
  - 7
  - {}
  - present: {name: a, trials: [{duration: 1s, stimulus: {family: blank}}], shuffle: true}
`, []problem{
			{"5:5", "blocks[1].show", "unknown block kind; want one of present, adapt, select, verify"},
			{"7:5", "blocks[2].adapt", "a second kind in one block entry (present and adapt): write each block as its own list entry"},
			{"8:5", "blocks[3]", "got the number 7; want a block such as {present: {...}}"},
			{"9:5", "blocks[4]", "empty; want a block such as {present: {...}}"},
			{"10:21", "blocks[5].present.name", "\"a\" names another block too: block names must be unique"},
			{"10:77", "blocks[5].present.shuffle", "unknown key; want one of name, trials, repeats, order, seed, inter_trial"},
		}},
		{"present values", `version: 2
name: x
blocks:
  - present:
      trials:
        - {duration: 0s, stimulus: {family: blank}}
        - {duration: -1s, stimulus: {family: blank}}
        - {duration: 5 seconds, stimulus: {family: blank}}
        - {duration: 25h, stimulus: {family: blank}}
        - {stimulus: [grating]}
        - {duration: 1s, stimulus: {seed: 1}}
        - {duration: 1s, stimulus: {family: 3}}
        - {duration: 1s}
      repeats: 0
      order: shuffled
      seed: -1
      inter_trial: soon
  - present: {name: none, trials: []}
  - present: {name: lots, trials: [{duration: 1s, stimulus: {family: blank}}], repeats: 10001}
  - present: {name: long, trials: [{duration: 1h, stimulus: {family: blank}}], repeats: 25}
  - present: {name: huge, trials: [{duration: 24h, stimulus: {family: blank}}, {duration: 24h, stimulus: {family: blank}}], repeats: 10000}
`, []problem{
			{"4:5", "blocks[0].present.name", "missing: every block needs a name"},
			{"6:22", "blocks[0].present.trials[0].duration", "0s out of range: want more than 0 to 24h0m0s"},
			{"7:22", "blocks[0].present.trials[1].duration", "-1s out of range: want more than 0 to 24h0m0s"},
			{"8:22", "blocks[0].present.trials[2].duration", "\"5 seconds\" is not a duration: want e.g. 500ms, 10s, 1m30s"},
			{"9:22", "blocks[0].present.trials[3].duration", "25h0m0s out of range: want more than 0 to 24h0m0s"},
			{"10:11", "blocks[0].present.trials[4].duration", "missing: want a duration such as 10s or 2m"},
			{"10:22", "blocks[0].present.trials[4].stimulus", "got a list; want a mapping with at least a family"},
			{"11:36", "blocks[0].present.trials[5].stimulus.family", "missing: want the stimulus family as a string, e.g. natural"},
			{"12:45", "blocks[0].present.trials[6].stimulus.family", "got the number 3; want the stimulus family as a string, e.g. natural"},
			{"13:11", "blocks[0].present.trials[7].stimulus", "missing: want a mapping with at least a family"},
			{"14:16", "blocks[0].present.repeats", "0 out of range: want 1 to 10000"},
			{"15:14", "blocks[0].present.order", "\"shuffled\" is not an order: want fixed or random"},
			{"16:13", "blocks[0].present.seed", "got the number -1; want a seed, an integer from 0 to 2^64-1"},
			{"17:20", "blocks[0].present.inter_trial", "\"soon\" is not a duration: want e.g. 500ms, 10s, 1m30s"},
			{"18:35", "blocks[1].present.trials", "0 trials; want 1 to 10000"},
			{"19:89", "blocks[2].present.repeats", "10001 out of range: want 1 to 10000"},
			{"20:89", "blocks[3].present.repeats", "25 repeats of 1 trials last 25h0m0s; at most 24h0m0s"},
			{"21:134", "blocks[4].present.repeats", "10000 repeats of 2 trials last 480000h0m0s; at most 24h0m0s"},
		}},
		{"files", `version: 2
name: x
blocks:
  - present:
      name: a
      trials:
        - {duration: 1s, stimulus: {family: video, path: missing.mp4}}
        - {duration: 1s, stimulus: {family: images, paths: [here.png, gone.png]}}
        - {duration: 1s, stimulus: {family: video, path: 5}}
`, []problem{
			{"7:58", "blocks[0].present.trials[0].stimulus.path", "\"missing.mp4\" does not exist (relative paths are relative to the protocol file)"},
			{"8:71", "blocks[0].present.trials[1].stimulus.paths[1]", "\"gone.png\" does not exist (relative paths are relative to the protocol file)"},
			{"9:58", "blocks[0].present.trials[2].stimulus.path", "got the number 5; want a file path"},
		}},
		{"adapt references", `version: 2
name: x
blocks:
  - present: {name: once, trials: [{duration: 1s, stimulus: {family: blank}}]}
  - present: {name: rep, trials: [{duration: 1s, stimulus: {family: blank}}], repeats: 3}
  - adapt: {name: a1, from: [once, nope, a1, later, rep], hold_out: [once, rep]}
  - adapt: {name: a2, hold_out: [a1]}
  - adapt: {name: a3, from: [], indicator_decay: 2m}
  - present: {name: later, trials: [{duration: 1s, stimulus: {family: blank}}]}
`, []problem{
			{"6:30", "blocks[2].adapt.from[0]", "\"once\" is also held out: a block is fitted or held out, not both"},
			{"6:36", "blocks[2].adapt.from[1]", "\"nope\" names no block"},
			{"6:42", "blocks[2].adapt.from[2]", "\"a1\" is an adapt block; want a present block"},
			{"6:46", "blocks[2].adapt.from[3]", "\"later\" comes after this block; want a present block before it"},
			{"6:53", "blocks[2].adapt.from[4]", "\"rep\" is also held out: a block is fitted or held out, not both"},
			{"6:70", "blocks[2].adapt.hold_out[0]", "\"once\" is shown once; a held-out block must repeat (repeats: 2 or more) to give CC_norm"},
			{"7:34", "blocks[3].adapt.hold_out[0]", "\"a1\" is an adapt block; want a present block"},
			{"8:23", "blocks[4].adapt.from", "empty: want the present blocks to fit on (or leave from out)"},
			{"8:50", "blocks[4].adapt.indicator_decay", "2m0s out of range: want 0 to 1m0s"},
		}},
		{"adapt with nothing to fit", `version: 2
name: x
blocks:
  - present: {name: rep, trials: [{duration: 1s, stimulus: {family: blank}}], repeats: 3}
  - adapt: {name: fit, hold_out: [rep]}
`, []problem{
			{"5:5", "blocks[1].adapt.from", "missing: no present block before it is shown once and not held out; name the blocks to fit on"},
		}},
		{"select", `version: 2
name: x
blocks:
  - present: {name: map, trials: [{duration: 1s, stimulus: {family: blank}}]}
  - select: {name: early, neurons: {best: 2, from: map}, pool: {noise: {}}}
  - present: {name: rep, trials: [{duration: 1s, stimulus: {family: blank}}], repeats: 3}
  - adapt: {name: fit, from: [map]}
  - select: {name: s1, neurons: {best: 0, by: rank, from: map}, pool: {}}
  - select: {name: s2, neurons: {ids: []}, pool: {gabor: {orientations: 0, cycles_per_width: [4, 4, -1]}}}
  - select: {name: s3, neurons: {ids: [a, b, a], best: 3}, pool: {natural: {clips: 100001}}}
  - select: {name: s4, neurons: {from: rep}, pool: {gabor: {columns: 64, rows: 64}}, synthesise: {images: 0}}
  - select: {name: s5, neurons: {best: 1, by: r, from: ghost}, pool: {noise: {count: 3}, keep: 0}, synthesise: {contrast: 0, population: 1, videos: 20}}
  - select: {name: s6}
`, []problem{
			{"5:5", "blocks[1].select", "no adapt block before it: targets and MEIs need the model adapted to these neurons"},
			{"5:52", "blocks[1].select.neurons.from", "\"map\" is shown once; cc_norm needs a repeated block (repeats: 2 or more)"},
			{"8:40", "blocks[4].select.neurons.best", "0 out of range: want 1 to 10000"},
			{"8:47", "blocks[4].select.neurons.by", "\"rank\" is not a score: want cc_norm, cc_abs or r"},
			{"8:59", "blocks[4].select.neurons.from", "\"map\" is shown once; cc_norm needs a repeated block (repeats: 2 or more)"},
			{"8:65", "blocks[4].select.pool", "empty: want at least one of natural, gabor, noise"},
			{"9:39", "blocks[5].select.neurons.ids", "0 ids; want 1 to 10000"},
			{"9:73", "blocks[5].select.pool.gabor.orientations", "0 out of range: want 1 to 360"},
			{"9:98", "blocks[5].select.pool.gabor.cycles_per_width[1]", "4 is listed twice"},
			{"9:101", "blocks[5].select.pool.gabor.cycles_per_width[2]", "got the number -1; want a number in (0, 100]"},
			{"10:46", "blocks[6].select.neurons.ids[2]", "\"a\" is listed twice"},
			{"10:50", "blocks[6].select.neurons.best", "given with ids; want best (with by and from) or ids"},
			{"10:84", "blocks[6].select.pool.natural.clips", "100001 out of range: want 1 to 100000"},
			{"11:24", "blocks[7].select.neurons", "missing: want best (with by and from) or ids"},
			{"11:46", "blocks[7].select.pool", "196608 candidates; at most 100000"},
			{"11:86", "blocks[7].select.synthesise", "images and videos are both 0: want at least one MEI per target"},
			{"12:56", "blocks[8].select.neurons.from", "\"ghost\" names no block"},
			{"12:96", "blocks[8].select.pool.keep", "0 out of range: want 1 to 100"},
			{"12:123", "blocks[8].select.synthesise.contrast", "got the number 0; want a number in (0, 0.5]"},
			{"12:138", "blocks[8].select.synthesise.population", "1 out of range: want 2 to 1024"},
			{"12:149", "blocks[8].select.synthesise.videos", "20 out of range: want 0 to 16"},
			{"13:5", "blocks[9].select.neurons", "missing: want {best: N, by: cc_norm, from: BLOCK} or {ids: [...]}"},
			{"13:5", "blocks[9].select.pool", "missing: want candidates to rank: one or more of natural, gabor, noise"},
		}},
		{"select on fitted data", `version: 2
name: x
blocks:
  - present: {name: rep, trials: [{duration: 1s, stimulus: {family: blank}}], repeats: 3}
  - adapt: {name: fit, from: [rep]}
  - select: {name: s, neurons: {best: 2, from: rep}, pool: {noise: {}}}
`, []problem{
			{"6:48", "blocks[2].select.neurons.from", "\"rep\" was fitted by adapt block \"fit\"; score targets on a held-out block"},
		}},
		{"verify", `version: 2
name: x
blocks:
  - present: {name: map, trials: [{duration: 1s, stimulus: {family: blank}}]}
  - present: {name: rep, trials: [{duration: 1s, stimulus: {family: blank}}], repeats: 3}
  - verify: {name: early, select: s}
  - adapt: {name: fit, hold_out: rep}
  - select: {name: s, neurons: {best: 2, from: rep}, pool: {noise: {}}, synthesise: {videos: 1, video_duration: 3s}}
  - verify: {name: v1, select: map, controls: [best_gabor, nothing, blank, blank]}
  - verify: {name: v2, select: s, controls: [best_gabor, best_noise], duration: 2s, repeats: 0, order: sorted}
  - verify: {name: v3, controls: []}
`, []problem{
			{"6:35", "blocks[2].verify.select", "\"s\" comes after this block; want a select block before it"},
			{"9:32", "blocks[5].verify.select", "\"map\" is a present block; want a select block"},
			{"9:60", "blocks[5].verify.controls[1]", "\"nothing\" is not a control: want best_natural, best_gabor, best_noise or blank"},
			{"9:76", "blocks[5].verify.controls[3]", "\"blank\" is listed twice"},
			{"10:46", "blocks[6].verify.controls[0]", "best_gabor needs gabor candidates in the pool of select block \"s\""},
			{"10:81", "blocks[6].verify.duration", "2s is shorter than the video MEIs of select block \"s\" (3s)"},
			{"10:94", "blocks[6].verify.repeats", "0 out of range: want 1 to 10000"},
			{"10:104", "blocks[6].verify.order", "\"sorted\" is not an order: want fixed or random"},
			{"11:5", "blocks[7].verify.select", "missing: want the select block whose MEIs are verified"},
			{"11:24", "blocks[7].verify.controls", "empty: want one or more of best_natural, best_gabor, best_noise, blank"},
		}},
		{"verify with an empty select", `version: 2
name: x
blocks:
  - present: {name: rep, trials: [{duration: 1s, stimulus: {family: blank}}], repeats: 3}
  - present: {name: map, trials: [{duration: 1s, stimulus: {family: blank}}]}
  - adapt: {name: fit, from: [map], hold_out: [rep]}
  - select: {name: s, neurons: {best: 2, from: rep}, pool: {noise: {}}}
  - verify:
      name: v
      select:
`, []problem{
			{"10:7", "blocks[4].verify.select", "missing: want the select block whose MEIs are verified"},
		}},
		{"required values left empty", `version: 2
name: x
x-nothing: &nothing null
blocks:
  - present: {name: map, trials: [{duration: 1s, stimulus: {family: blank}}]}
  - present:
      name: rep
      trials:
        - {duration: 1s, stimulus: {family: blank}}
        - {duration: , stimulus: {family: blank}}
      repeats: 3
  - adapt: {name: fit, from: [map], hold_out: [rep]}
  - select:
      name: s1
      neurons: {best: 2, from: }
      pool: {noise: {}}
  - select: {name: s2, neurons: {best: *nothing, from: rep}, pool: {noise: {}}}
  - verify: {name: v1, select: *nothing}
  - verify: {name: v2, select: ""}
`, []problem{
			{"10:12", "blocks[1].present.trials[1].duration", "missing: want a duration such as 10s or 2m"},
			{"15:26", "blocks[3].select.neurons.from", "missing: want the present block the targets are scored on"},
			{"17:34", "blocks[4].select.neurons.best", "missing: want how many neurons to target, 1 to 10000"},
			{"18:24", "blocks[5].verify.select", "missing: want the select block whose MEIs are verified"},
			{"19:32", "blocks[6].verify.select", `"" names no block`},
		}},
		{"verify alpha", `version: 2
name: x
blocks:
  - present: {name: map, trials: [{duration: 1s, stimulus: {family: blank}}]}
  - present: {name: rep, trials: [{duration: 1s, stimulus: {family: blank}}], repeats: 3}
  - adapt: {name: fit, from: [map], hold_out: [rep]}
  - select: {name: s, neurons: {best: 2, from: rep}, pool: {noise: {}}}
  - verify: {name: v1, select: s, alpha: 0}
  - verify: {name: v2, select: s, alpha: 0.5}
  - verify: {name: v3, select: s, alpha: -0.01}
  - verify: {name: v4, select: s, alpha: 5%}
  - verify: {name: v5, select: s, alpha: .nan}
  - verify: {name: v6, select: s, alpha: 0.001}
  - verify: {name: v7, select: s, alpha: 0.49}
`, []problem{
			{"8:42", "blocks[4].verify.alpha", "got the number 0; want a number in (0, 0.5)"},
			{"9:42", "blocks[5].verify.alpha", "got the number 0.5; want a number in (0, 0.5)"},
			{"10:42", "blocks[6].verify.alpha", "got the number -0.01; want a number in (0, 0.5)"},
			{"11:42", "blocks[7].verify.alpha", `got "5%"; want a number in (0, 0.5)`},
			{"12:42", "blocks[8].verify.alpha", "got the number .nan; want a number in (0, 0.5)"},
		}},
		{"select on a block the fit skipped", `version: 2
name: x
blocks:
  - present: {name: map, trials: [{duration: 1s, stimulus: {family: blank}}]}
  - present: {name: rep, trials: [{duration: 1s, stimulus: {family: blank}}], repeats: 3}
  - adapt: {name: fit, from: [map, ""]}
  - select: {name: s, neurons: {best: 2, from: rep}, pool: {noise: {}}}
  - verify: {name: v, select: s, repeats: 10000, duration: 1m}
`, []problem{
			{"6:36", "blocks[2].adapt.from[1]", `got ""; want a block name`},
			{"7:48", "blocks[3].select.neurons.from", `"rep" is shown before adapt block "fit", which does not hold it out`},
			{"8:43", "blocks[4].verify.repeats", "10000 repeats of 5 stimuli last 833h20m0s; at most 24h0m0s"},
		}},
		{"experiment too long", `version: 2
name: x
blocks:
  - present: {name: a, trials: [{duration: 20h, stimulus: {family: blank}}]}
  - present: {name: b, trials: [{duration: 5h, stimulus: {family: blank}}]}
`, []problem{
			{"4:3", "blocks", "the experiment lasts 25h0m0s; at most 24h0m0s"},
		}},
		{"yaml oddities", `version: 2
name: !!binary eA==
blocks:
  - present: {name: a, trials: [{duration: 1s, stimulus: {family: blank, level: *nope}}]}
  - present: {name: b, trials: [{duration: 1s, stimulus: {family: blank, level: .inf}}], repeats: 2.5}
`, []problem{
			{"2:7", "name", "tag !!binary is not supported; expected a plain value"},
			{"4:81", "blocks[0].present.trials[0].stimulus.level", "alias *nope names no anchor defined before it"},
			{"5:81", "blocks[1].present.trials[0].stimulus.level", ".inf cannot be represented in JSON; expected a finite number"},
			{"5:99", "blocks[1].present.repeats", "got the number 2.5; want an integer from 1 to 10000"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "here.png"), nil, 0o644))
			name := filepath.Join(dir, "p.yaml")
			e, err := protocols.ParseExperiment(name, []byte(tt.yaml))
			require.Nil(t, e)
			require.ErrorIs(t, err, rig.ErrInvalid)
			got := protocols.Problems(err)
			require.Len(t, got, len(tt.want), "one problem each:\n%s", err)
			require.Equal(t, len(got), strings.Count(err.Error(), "\n")+1, "one line per problem")
			for i, w := range tt.want {
				p := got[i]
				require.Equal(t, name, p.File)
				if w.at != "" {
					require.Equal(t, w.at, strings.Join([]string{itoa(p.Line), itoa(p.Column)}, ":"), "problem %d: %s", i, p)
				}
				require.Equal(t, w.field, p.Field, "problem %d: %s", i, p)
				require.Contains(t, p.Msg, w.msg, "problem %d: %s", i, p)
				require.True(t, strings.HasPrefix(p.Error(), name+":"), p.Error())
			}
		})
	}
}

func TestTooManyTrialsShown(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 2\nname: x\nblocks:\n  - present:\n      name: many\n      repeats: 1001\n      trials:\n")
	for range 1000 {
		b.WriteString("        - {duration: 1ms, stimulus: {family: blank}}\n")
	}
	_, err := protocols.ParseExperiment("p.yaml", []byte(b.String()))
	require.EqualError(t, err, "p.yaml:6:16: blocks[0].present.repeats: 1001 repeats of 1000 trials show 1001000; at most 1000000")

	// As long as a Duration holds (292 years) and longer.
	b.Reset()
	b.WriteString("version: 2\nname: x\nblocks:\n  - present:\n      name: long\n      repeats: 10000\n      trials:\n")
	for range 100 {
		b.WriteString("        - {duration: 24h, stimulus: {family: blank}}\n")
	}
	_, err = protocols.ParseExperiment("p.yaml", []byte(b.String()))
	require.EqualError(t, err, "p.yaml:6:16: blocks[0].present.repeats: 10000 repeats of 100 trials last 2.4e+07h; at most 24h0m0s")
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestExperimentAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 2\nname: bomb\nx0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n")
	for i := 1; i < 12; i++ {
		b.WriteString("x" + itoa(i) + ": &a" + itoa(i) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + itoa(i-1))
		}
		b.WriteString("]\n")
	}
	b.WriteString("blocks:\n  - present: {name: a, trials: [{duration: 1s, stimulus: {family: blank, x: *a11}}]}\n")
	_, err := protocols.ParseExperiment("bomb.yaml", []byte(b.String()))
	require.ErrorContains(t, err, "expands to more than 65536 values through aliases")
}

func TestVersion1LoadsAsExperiment(t *testing.T) {
	p, err := protocols.Load("testdata/v1/adapt-benchmark.yaml")
	require.NoError(t, err)
	e, err := protocols.LoadExperiment("testdata/v1/adapt-benchmark.yaml")
	require.NoError(t, err)
	require.Equal(t, withoutPlaces(protocols.FromProtocol(p)), withoutPlaces(e))
	require.Equal(t, 1, e.Version)
	require.Equal(t, p.Duration(), e.Duration())
	names := make([]string, len(e.Stages))
	for i, s := range e.Stages {
		names[i] = s.Name
	}
	require.Equal(t, []string{"gray", "mapping", "mapping-adapt", "clip-a", "clip-b", "clip-c", "clip-d", "clip-e", "clip-f"}, names)
	require.Equal(t, &protocols.AdaptBlock{From: []string{"gray", "mapping"}, IndicatorDecay: 1250 * time.Millisecond}, e.Stages[2].Adapt)
	clip := e.Find("clip-c").Present
	require.Equal(t, &protocols.PresentBlock{
		Trials:  []protocols.Trial{{Duration: 10 * time.Second, Stimulus: clip.Trials[0].Stimulus}},
		Repeats: 10, Order: protocols.OrderFixed,
	}, clip)
	require.Equal(t, "natural", clip.Trials[0].Stimulus.Family)
	require.JSONEq(t, `{"family":"natural","seed":103}`, string(clip.Trials[0].Stimulus.Spec))

	// A v1 error is reported as Parse reports it.
	_, err = protocols.ParseExperiment("p.yaml", []byte("version: 1\nname: x\nblocks: []\n"))
	require.ErrorContains(t, err, "p.yaml:3:9: blocks: missing")
}

// withoutPlaces returns e with its stimuli stripped of where they are
// written.
func withoutPlaces(e *protocols.Experiment) *protocols.Experiment {
	c := *e
	c.Stages = slices.Clone(e.Stages)
	for i, s := range c.Stages {
		if s.Present != nil {
			p := *s.Present
			p.Trials = slices.Clone(p.Trials)
			for j, t := range p.Trials {
				p.Trials[j].Stimulus = protocols.Stimulus{Family: t.Stimulus.Family, Spec: t.Stimulus.Spec}
			}
			c.Stages[i].Present = &p
		}
	}
	return &c
}

func TestFromProtocolHoldsOutRepeatedBlocks(t *testing.T) {
	p, err := protocols.Parse("p.yaml", []byte(`version: 1
name: v1
blocks:
  - {name: gray, duration: 2s, stimulus: {family: blank}}
  - {name: clip, duration: 5s, repeats: 4, stimulus: {family: natural, seed: 3}}
  - {name: map, duration: 1m, stimulus: {family: natural, seed: 1}, adapt: {indicator_decay: 1s}}
  - {name: map-adapt, duration: 1m, stimulus: {family: natural, seed: 2}, adapt: {}}
`))
	require.NoError(t, err)
	e := protocols.FromProtocol(p)
	require.Len(t, e.Stages, 6)
	require.Equal(t, protocols.Stage{Kind: protocols.KindAdapt, Name: "map-adapt-2", Adapt: &protocols.AdaptBlock{
		From: []string{"gray", "map"}, HoldOut: []string{"clip"}, IndicatorDecay: time.Second,
	}}, e.Stages[3])
	require.Equal(t, protocols.Stage{Kind: protocols.KindAdapt, Name: "map-adapt-adapt", Adapt: &protocols.AdaptBlock{
		From: []string{"gray", "map", "map-adapt"}, HoldOut: []string{"clip"},
	}}, e.Stages[5])
	require.Equal(t, p.Duration(), e.Duration())
}

func TestOrderPermutation(t *testing.T) {
	require.Equal(t, []int{0, 1, 2, 3}, protocols.OrderFixed.Permutation(4, 7, 3))
	a := protocols.OrderRandom.Permutation(20, 7, 0)
	require.Equal(t, a, protocols.OrderRandom.Permutation(20, 7, 0), "the same seed and repeat give the same order")
	require.NotEqual(t, a, protocols.OrderRandom.Permutation(20, 7, 1), "each repeat is reshuffled")
	require.NotEqual(t, a, protocols.OrderRandom.Permutation(20, 8, 0), "the seed matters")
	sorted := slices.Clone(a)
	slices.Sort(sorted)
	require.Equal(t, protocols.OrderFixed.Permutation(20, 0, 0), sorted, "a permutation")
	// The shuffle is part of the format: a change would reorder every
	// recorded session's trials.
	require.Equal(t, []int{1, 3, 4, 0, 2}, protocols.OrderRandom.Permutation(5, 1, 0))
	require.Empty(t, protocols.OrderRandom.Permutation(0, 1, 0))
}

func TestSchedule(t *testing.T) {
	e, err := protocols.ParseExperiment("loop.yaml", []byte(strings.Replace(loop, "      repeats: 5\n", "      repeats: 3\n      order: random\n      seed: 4\n", 1)))
	require.NoError(t, err)
	b := e.Find("test").Present
	s := b.Schedule()
	require.Len(t, s, 6)
	for rep := range 3 {
		perm := protocols.OrderRandom.Permutation(2, 4, rep)
		require.Equal(t, []protocols.Showing{{Repeat: rep, Trial: perm[0]}, {Repeat: rep, Trial: perm[1]}}, s[2*rep:2*rep+2])
	}
}

func TestCheckStimuli(t *testing.T) {
	e, err := protocols.ParseExperiment("loop.yaml", []byte(loop))
	require.NoError(t, err)
	require.Len(t, e.Stimuli(), 4, "the blank and three trials")
	require.NoError(t, e.CheckStimuli(func(json.RawMessage) error { return nil }))
	err = e.CheckStimuli(func(spec json.RawMessage) error {
		if strings.Contains(string(spec), `"seed":2`) {
			return errors.Join(errors.New("seed 2 is cursed"), errors.New("and so on"))
		}
		return nil
	})
	got := protocols.Problems(err)
	require.Len(t, got, 2)
	require.Equal(t, "loop.yaml:11:36: blocks[1].present.trials[0].stimulus: seed 2 is cursed", got[0].Error())
	require.Equal(t, "loop.yaml:11:36: blocks[1].present.trials[0].stimulus: and so on", got[1].Error())
	require.ErrorIs(t, err, rig.ErrInvalid)
}

func TestLoadExperimentMissingFile(t *testing.T) {
	_, err := protocols.LoadExperiment(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Nil(t, protocols.Problems(err))
}

func TestShippedExperimentsLoad(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			e, err := protocols.LoadExperiment(f)
			require.NoError(t, err)
			require.NotEmpty(t, e.Stages)
			for _, s := range e.Stimuli() {
				require.True(t, json.Valid(s.Spec))
				require.NotEmpty(t, s.Family)
			}
		})
	}
}

func TestShippedStimuliBuild(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		e, err := protocols.LoadExperiment(f)
		require.NoError(t, err)
		require.NoError(t, e.CheckStimuli(func(spec json.RawMessage) error {
			_, err := stimuli.New(spec, 64, 36, 30)
			return err
		}), f)
	}
}

func TestInceptionLoop(t *testing.T) {
	e, err := protocols.LoadExperiment("inception-loop.yaml")
	require.NoError(t, err)
	kinds := make([]protocols.Kind, len(e.Stages))
	for i, s := range e.Stages {
		kinds[i] = s.Kind
	}
	require.Equal(t, []protocols.Kind{"present", "present", "present", "adapt", "select", "verify"}, kinds)
	test := e.Find("test").Present
	require.Len(t, test.Trials, 6)
	require.Equal(t, 10, test.Repeats)
	sel := e.Find("targets").Select
	require.Equal(t, 20, sel.Neurons.Count())
	require.Equal(t, protocols.ScoreCCNorm, sel.Neurons.By)
	require.NotNil(t, sel.Pool.Natural)
	require.NotNil(t, sel.Pool.Gabor)
	v := e.Find("verify").Verify
	require.Equal(t, []protocols.Control{protocols.ControlBestNatural, protocols.ControlBestGabor, protocols.ControlBlank}, v.Controls)
	require.Equal(t, 10, v.Repeats)
	require.LessOrEqual(t, e.Duration(), 35*time.Minute, "a reasonable session (about 2 minutes on the virtual clock)")
	require.Equal(t, 33*time.Minute+22*time.Second, e.Duration(), "as its comment says")
}

func FuzzParseExperiment(f *testing.F) {
	for _, name := range []string{"inception-loop.yaml", "adapt-natural.yaml"} {
		data, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte(loop))
	f.Add([]byte("version: 2\nname: x\nx: &a {family: blank}\nblocks:\n  - present: {name: a, trials: [{duration: 1s, stimulus: {<<: *a, seed: 1}}]}\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := protocols.ParseExperiment("fuzz.yaml", data)
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.Nil(t, e)
			return
		}
		require.NotEmpty(t, e.Stages)
		require.Positive(t, e.Duration())
		if e.Version == protocols.ExperimentVersion {
			require.LessOrEqual(t, e.Duration(), protocols.MaxDuration)
		}
		for _, s := range e.Stimuli() {
			require.True(t, json.Valid(s.Spec), "%s", s.Spec)
		}
		for _, s := range e.Stages {
			require.NotEmpty(t, s.Name)
			if s.Kind == protocols.KindPresent {
				require.GreaterOrEqual(t, s.Present.Repeats, 1)
				require.Len(t, s.Present.Schedule(), s.Present.Repeats*len(s.Present.Trials))
			}
		}
		requireRunnable(t, e)
	})
}

// requireRunnable checks what a session assumes of a validated
// experiment: every reference names an earlier block of the right kind,
// and every block has something to do, so that nothing the validator
// accepted fails when the session builds the block.
func requireRunnable(t *testing.T, e *protocols.Experiment) {
	t.Helper()
	index := map[string]int{}
	adapted := false
	earlier := func(i int, name string, kind protocols.Kind) *protocols.Stage {
		t.Helper()
		j, ok := index[name]
		require.True(t, ok, "stage %d refers to %q, no block before it", i, name)
		require.Equal(t, kind, e.Stages[j].Kind, "stage %d refers to %q", i, name)
		return &e.Stages[j]
	}
	for i, s := range e.Stages {
		_, dup := index[s.Name]
		require.False(t, dup, "block name %q twice", s.Name)
		switch s.Kind {
		case protocols.KindPresent:
			require.NotEmpty(t, s.Present.Trials)
			for _, tr := range s.Present.Trials {
				require.Positive(t, tr.Duration)
				require.NotEmpty(t, tr.Stimulus.Family)
			}
			require.Contains(t, []protocols.Order{protocols.OrderFixed, protocols.OrderRandom}, s.Present.Order)
		case protocols.KindAdapt:
			require.NotEmpty(t, s.Adapt.From)
			for _, name := range append(slices.Clone(s.Adapt.From), s.Adapt.HoldOut...) {
				earlier(i, name, protocols.KindPresent)
			}
			adapted = true
		case protocols.KindSelect:
			require.True(t, adapted, "select %q before any adapt", s.Name)
			sel := s.Select
			require.Positive(t, sel.Neurons.Count())
			if len(sel.Neurons.IDs) == 0 {
				from := earlier(i, sel.Neurons.From, protocols.KindPresent)
				if sel.Neurons.By.NeedsRepeats() {
					require.GreaterOrEqual(t, from.Present.Repeats, 2)
				}
			}
			require.Positive(t, sel.Pool.Size())
			require.LessOrEqual(t, sel.Pool.Size(), protocols.MaxPool)
			require.Positive(t, sel.Pool.Keep)
			require.Positive(t, sel.Synthesise.MEIs())
			require.GreaterOrEqual(t, sel.Synthesise.Population, 2)
			require.Positive(t, sel.Synthesise.Iterations)
		case protocols.KindVerify:
			v := s.Verify
			sel := earlier(i, v.Select, protocols.KindSelect).Select
			require.NotEmpty(t, v.Controls)
			require.Positive(t, v.Duration)
			require.Positive(t, v.Repeats)
			require.True(t, v.Alpha > 0 && v.Alpha < 0.5, "alpha %v", v.Alpha)
			require.Positive(t, v.TrialsPerRepeat(sel.Neurons.Count(), sel.Synthesise.MEIs()))
			for _, c := range v.Controls {
				switch c {
				case protocols.ControlBestNatural:
					require.NotNil(t, sel.Pool.Natural)
				case protocols.ControlBestGabor:
					require.NotNil(t, sel.Pool.Gabor)
				case protocols.ControlBestNoise:
					require.NotNil(t, sel.Pool.Noise)
				}
			}
			if sel.Synthesise.Videos > 0 {
				require.GreaterOrEqual(t, v.Duration, sel.Synthesise.VideoDuration)
			}
		default:
			require.Fail(t, "unknown kind", "%q", s.Kind)
		}
		index[s.Name] = i
	}
}
