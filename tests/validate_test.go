package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/defaultmodel"
)

// adaptBlocks map, adapt and score: a protocol that needs a model that
// adapts, and nothing else.
const adaptBlocks = `
  - present:
      name: mapping
      trials: [{duration: 2s, stimulus: {family: natural, seed: 4}}]
  - adapt:
      name: fit
      from: [mapping]
`

// TestValidateFindsEveryMismatchBeforeTheFirstFrame: `twinrig validate`
// launches the real plugin binaries, loads the model and checks config,
// protocol and plugins together; each mismatch fails it (exit 2) naming
// the plugin, the capability and the block, and leaves no plugin running.
func TestValidateFindsEveryMismatchBeforeTheFirstFrame(t *testing.T) {
	capmodel := filepath.Join(bin, "capmodel")
	contractstim := filepath.Join(bin, "contractstim")
	for _, tc := range []struct {
		name string
		cfg  rigConfig
		// prepare may change the written config (its path).
		prepare func(t *testing.T, cfg string)
		want    []string
	}{
		{name: "a model without features and a protocol that adapts",
			cfg:  rigConfig{version2: true, modelFile: "builtin:fnnbench", blocks: adaptBlocks},
			want: []string{`adapt block "fit" needs a model that adapts`, `model plugin (model "builtin:fnnbench") says adapts: false (it has no features output`}},
		{name: "a model without Evaluate and a select block",
			cfg:  rigConfig{version2: true, neurons: 12, model: capmodel, modelJSON: `{neurons: 12, evaluates: false}`, blocks: loopBlocks},
			want: []string{`select block "targets" needs a model that evaluates candidate stimuli`, `model plugin (model "capmodel") says evaluates: false`}},
		{name: "model neuron ids that differ from the acquisition's and no adapt block",
			cfg: rigConfig{version2: true, neurons: 3, model: capmodel, modelJSON: `{neurons: 3, neuron_ids: [m-1, m-2, m-3], evaluates: true}`, blocks: `
  - present:
      name: gratings
      trials: [{duration: 1s, stimulus: {family: grating, seed: 3}}]
`},
			want: []string{`no adapt block, so the model must predict the recorded neurons`, `model "capmodel" predicts 3 neurons "m-1", "m-2", "m-3"`,
				`records 3 neurons "sim-0000", "sim-0001", "sim-0002"`}},
		{name: "a stimulus plugin that lacks a family the protocol uses",
			cfg: rigConfig{version2: true, stimulus: contractstim, stimJSON: `{refresh_hz: 30}`, blocks: `
  - present:
      name: dots
      trials: [{duration: 1s, stimulus: {family: rdk, seed: 3}}]
`},
			want: []string{`protocol.yaml:`, `family "rdk": stimulus plugin "contractstim" has no such family`}},
		{name: "a stimulus spec the plugin cannot render",
			cfg: rigConfig{version2: true, blocks: `
  - present:
      name: gratings
      trials: [{duration: 1s, stimulus: {family: grating, seed: 3, contrast: 7}}]
`},
			want: []string{`protocol.yaml:`, `contrast`}},
		{name: "bad plugin settings",
			cfg:  rigConfig{stimJSON: `{display: headless, refresh_hz: 30, gamma: sideways}`, acqJSON: `{neurons: 12, seed: 5, sped: 2}`},
			want: []string{`plugins.stimulus.settings`, `gamma`, `plugins.acquisition.settings`, `sped`}},
		{name: "an unwritable output directory",
			prepare: func(t *testing.T, cfg string) {
				// The output directory is a file.
				require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(cfg), "runs"), nil, 0o644))
			},
			want: []string{`session.output`, `is not a directory`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tc.cfg.write(t, dir)
			if tc.prepare != nil {
				tc.prepare(t, cfg)
			}
			code, out := runHost(t, "validate", cfg)
			require.Equal(t, 2, code, "validate must fail; output:\n%s", out)
			for _, w := range tc.want {
				require.Contains(t, out, w)
			}
			require.NotContains(t, out, ": ok (", "no verdict of ok")
			requireNoPlugins(t)

			// A session refuses the same before the first frame, and
			// records nothing.
			code, out = runHost(t, "run", cfg)
			require.NotEqual(t, 0, code, "run must fail too; output:\n%s", out)
			require.Contains(t, out, tc.want[len(tc.want)-1])
			require.NotContains(t, out, "block 1/", "nothing was shown")
			runs, _ := filepath.Glob(filepath.Join(dir, "runs", "e2e-*"))
			require.Empty(t, runs, "no session directory")
			requireNoPlugins(t)
		})
	}
}

// TestValidateReportsThePlugins: on a rig that fits, validate says ok and
// what each plugin can do.
func TestValidateReportsThePlugins(t *testing.T) {
	dir := t.TempDir()
	cfg := rigConfig{version2: true, neurons: 12, blocks: loopBlocks}.write(t, dir)
	code, out := runHost(t, "validate", cfg)
	require.Equal(t, 0, code, out)
	for _, w := range []string{
		"ok (rig e2e-rig, protocol e2e: 5 blocks (2 present, 1 adapt, 1 select, 1 verify)",
		"stimulus     twinrig-stimulus: 30 Hz, families ", "; renders, sequences",
		"acquisition  sim: 12 neurons at 30 Hz; tells truth",
		"model        builtin:default: 12 neurons, 256x144 at 30 Hz on cpu; adapts, evaluates, features",
	} {
		require.Contains(t, out, w)
	}
	require.False(t, strings.Contains(out, "level=INFO"), "no plugin info logs in validate's output")
	requireNoPlugins(t)
}

// TestInceptionLoopWithAContractOnlyStimulusPlugin: a stimulus plugin
// written against the contract alone (tests/testdata/contractstim: package
// rig and its own rendering code) runs the closed loop: its natural video
// maps the neurons, it renders the candidate pool and shows the MEIs.
func TestInceptionLoopWithAContractOnlyStimulusPlugin(t *testing.T) {
	dir := t.TempDir()
	// A third of the mapping: the point is that the loop closes through
	// this plugin (its natural video renders slower than the built-in's).
	blocks := strings.Replace(loopBlocks, "duration: 60s", "duration: 20s", 1)
	require.NotEqual(t, loopBlocks, blocks)
	cfg := rigConfig{neurons: 12, version2: true, blocks: blocks,
		stimulus: filepath.Join(bin, "contractstim"), stimJSON: `{refresh_hz: 30}`}.write(t, dir)
	code, out := runHost(t, "run", cfg)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `targets: 3 targets, most exciting inputs ranked and synthesised`, out)
	require.Contains(t, out, "verification check:")
	require.Regexp(t, `targets 3, evaluated 3, driven \d`, out)
	runs, err := filepath.Glob(filepath.Join(dir, "runs", "e2e-*"))
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, []string{"mapping", "test", "fit", "targets", "check"}, stagesDone(journal(t, runs[0])))
	requireNoPlugins(t)
}

// TestRelativeSettingsPathsResolveAgainstTheConfig: plugins run in the
// config file's directory, so a model file named relative to the config
// (configs/fnn.yaml's ../models/...) is found wherever the host is started
// from.
func TestRelativeSettingsPathsResolveAgainstTheConfig(t *testing.T) {
	dir := t.TempDir()
	model, err := defaultmodel.Build(defaultmodel.Options{Neurons: 12, Seed: 5})
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "models"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "models", "m.onnx"), model, 0o644))
	cfgDir := filepath.Join(dir, "configs")
	require.NoError(t, os.MkdirAll(cfgDir, 0o755))
	cfg := rigConfig{version2: true, neurons: 12, blocks: loopBlocks, modelFile: "../models/m.onnx"}.write(t, cfgDir)
	code, out := runHost(t, "validate", cfg)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "model        m.onnx: 12 neurons")
}
