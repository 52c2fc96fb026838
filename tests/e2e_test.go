package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

// bin holds the binaries built for the tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "twinrig-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	// The plugins run in their config's directory (a test's temporary
	// one) from binaries in a temporary bin/, so the model plugin would not
	// find the repository's ONNX Runtime library by itself.
	if _, set := os.LookupEnv(onnxmodel.LibraryEnv); !set {
		if p, err := filepath.Abs(filepath.Join("..", onnxmodel.LibraryRelPath)); err == nil {
			if _, err := os.Stat(p); err == nil {
				os.Setenv(onnxmodel.LibraryEnv, p)
			}
		}
	}
	code := build()
	if code == 0 {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds the binaries the tests run, two at a time (the go command
// links one binary per call; the machine has two cores).
func build() int {
	var (
		mu     sync.Mutex
		failed bool
		wg     sync.WaitGroup
		slots  = make(chan struct{}, 2)
	)
	for name, pkg := range map[string]string{
		"twinrig": "./host", "twinrig-stimulus": "./plugins/stimulus", "twinrig-acquisition": "./plugins/acquisition",
		"twinrig-model": "./plugins/model", "v2plugin": "./tests/testdata/v2plugin",
		"contractstim": "./tests/testdata/contractstim", "capmodel": "./tests/testdata/capmodel",
	} {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			cmd := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg)
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
				failed = true
			}
		})
	}
	wg.Wait()
	if failed {
		return 1
	}
	return 0
}

// rigConfig writes a rig config and a protocol into dir and returns the
// config's path. Fields override the defaults.
type rigConfig struct {
	neurons   int
	clock     string
	blocks    string // the protocol's blocks, YAML
	version2  bool   // blocks are in protocol format 2
	model     string // plugin binary paths
	modelFile string
	modelJSON string // the model plugin's settings (default: from modelFile)
	stimulus  string
	stimJSON  string // the stimulus plugin's settings (default: headless at 30 Hz)
	acqJSON   string // the acquisition's settings (default: the simulated mouse)
	modelPin  string // the model plugin's sha256 (default: not pinned)
}

func (c rigConfig) write(t *testing.T, dir string) string {
	t.Helper()
	if c.neurons == 0 {
		c.neurons = 12
	}
	if c.clock == "" {
		c.clock = "virtual"
	}
	if c.blocks == "" {
		c.blocks = `
  - name: gray
    duration: 500ms
    stimulus: {family: blank, seed: 0}
  - name: gratings
    duration: 3s
    stimulus: {family: grating, seed: 3, segment_frames: 15}
`
	}
	if c.model == "" {
		c.model = filepath.Join(bin, "twinrig-model")
	}
	if c.stimulus == "" {
		c.stimulus = filepath.Join(bin, "twinrig-stimulus")
	}
	if c.modelFile == "" {
		c.modelFile = "builtin:default"
	}
	modelSettings := fmt.Sprintf("{model: %q}", c.modelFile)
	if c.modelFile == "builtin:default" {
		modelSettings = fmt.Sprintf("{model: builtin:default, neurons: %d}", c.neurons)
	}
	if c.modelJSON != "" {
		modelSettings = c.modelJSON
	}
	stimSettings := c.stimJSON
	if stimSettings == "" {
		stimSettings = "{display: headless, refresh_hz: 30}"
	}
	acqSettings := c.acqJSON
	if acqSettings == "" {
		acqSettings = fmt.Sprintf("{neurons: %d, seed: 5}", c.neurons)
	}
	proto := "version: 1\nname: e2e\nblocks:" + c.blocks
	if c.version2 {
		proto = "version: 2\nname: e2e\nblank: {family: blank}\nblocks:" + c.blocks
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "protocol.yaml"), []byte(proto), 0o644))
	cfg := fmt.Sprintf(`rig: e2e-rig
session:
  name: e2e
  clock: %s
  protocol: protocol.yaml
  output: runs
plugins:
  stimulus:
    path: %s
    settings: %s
  acquisition:
    path: %s
    settings: %s
  model:
    path: %s
    settings: %s
mqtt:
  broker: embedded
  listen: 127.0.0.1:0
`, c.clock, c.stimulus, stimSettings, filepath.Join(bin, "twinrig-acquisition"), acqSettings, c.model, modelSettings)
	if c.modelPin != "" {
		cfg = strings.Replace(cfg, "  model:\n", fmt.Sprintf("  model:\n    sha256: %q\n", c.modelPin), 1)
	}
	path := filepath.Join(dir, "rig.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// host is a running `twinrig run`.
type host struct {
	cmd    *exec.Cmd
	stdout *bufio.Scanner
	stderr *strings.Builder
	lines  []string
}

func startHost(t *testing.T, args ...string) *host {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "twinrig"), args...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	h := &host{cmd: cmd, stdout: bufio.NewScanner(out), stderr: &strings.Builder{}}
	cmd.Stderr = h.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return h
}

// readUntil reads stdout lines until one matches re and returns its
// submatches.
func (h *host) readUntil(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	for h.stdout.Scan() {
		line := h.stdout.Text()
		h.lines = append(h.lines, line)
		if m := re.FindStringSubmatch(line); m != nil {
			return m
		}
	}
	t.Fatalf("host stdout ended before a line matching %s; stdout:\n%s\nstderr:\n%s", re, strings.Join(h.lines, "\n"), h.stderr)
	return nil
}

// wait drains stdout and returns the exit code.
func (h *host) wait(t *testing.T) int {
	t.Helper()
	for h.stdout.Scan() {
		h.lines = append(h.lines, h.stdout.Text())
	}
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("host did not exit; stderr:\n%s", h.stderr)
	}
	return h.cmd.ProcessState.ExitCode()
}

// message is one MQTT message received.
type message struct {
	topic   string
	payload map[string]any
}

// subscribe connects to the broker and collects every message on topic.
func subscribe(t *testing.T, url, topic string) func() []message {
	t.Helper()
	var mu sync.Mutex
	var got []message
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID("e2e-subscriber").SetOrderMatters(true)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "connecting to %s", url)
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	tok = c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		var p map[string]any
		if err := json.Unmarshal(m.Payload(), &p); err != nil {
			p = map[string]any{"invalid": string(m.Payload())}
		}
		mu.Lock()
		got = append(got, message{m.Topic(), p})
		mu.Unlock()
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	return func() []message {
		mu.Lock()
		defer mu.Unlock()
		return append([]message(nil), got...)
	}
}

var brokerLine = regexp.MustCompile(`events: (tcp://[0-9.:]+) topics (twinrig/[^ ]+)/#`)

// pluginProcesses lists live processes whose executable is in dir.
func pluginProcesses(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var live []string
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || !strings.HasPrefix(exe, dir+string(filepath.Separator)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err == nil && strings.Contains(string(stat), ") Z ") {
			continue // a zombie is already dead
		}
		live = append(live, e.Name()+" "+exe)
	}
	return live
}

// requireNoPlugins waits briefly for plugin processes to be gone.
func requireNoPlugins(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		live := pluginProcesses(t, bin)
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin processes left behind: %v", live)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func kinds(msgs []message) []string {
	var k []string
	for _, m := range msgs {
		if !strings.HasSuffix(m.topic, "/status") {
			k = append(k, m.payload["kind"].(string))
		}
	}
	return k
}

func TestSessionEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := rigConfig{}.write(t, dir)
	h := startHost(t, "run", "-await-subscriber", "30s", cfg)
	m := h.readUntil(t, brokerLine)
	msgs := subscribe(t, m[1], m[2]+"/#")
	code := h.wait(t)
	require.Equal(t, 0, code, "exit code; stdout:\n%s\nstderr:\n%s", strings.Join(h.lines, "\n"), h.stderr)
	requireNoPlugins(t)

	got := msgs()
	require.Equal(t, []string{"started", "block", "trial", "accuracy", "block", "trial", "accuracy", "accuracy", "finished"}, kinds(got))
	for i, msg := range got {
		require.EqualValues(t, 1, msg.payload["schema"], "schema of %s", msg.topic)
		require.EqualValues(t, i+1, msg.payload["seq"], "events arrive in order with consecutive seq")
		require.Equal(t, m[2]+"/"+msg.payload["kind"].(string), msg.topic)
	}
	started := got[0].payload
	require.EqualValues(t, 12, started["neurons"])
	require.Regexp(t, `^[0-9a-f]{64}$`, started["model_sha256"], "the model's hash is on record")
	require.Equal(t, "virtual", started["clock"])
	require.Equal(t, "gratings", got[4].payload["block"])
	require.InDelta(t, 0.5, got[4].payload["onset_s"], 1e-9)
	require.Equal(t, map[string]any{"family": "grating", "seed": 3.0, "segment_frames": 15.0}, got[5].payload["stimulus"],
		"a trial event carries the stimulus specification it showed")
	acc := got[7].payload
	require.Equal(t, "session", acc["block"])
	require.EqualValues(t, 12, acc["neurons"])
	require.Len(t, acc["per_neuron"], 12)
	for _, r := range acc["per_neuron"].([]any) {
		require.InDelta(t, 0, r, 1, "r is a correlation")
	}
	fin := got[8].payload
	require.Equal(t, "ok", fin["status"])
	require.EqualValues(t, 105, fin["frames_shown"], "3.5 s at 30 Hz")
	require.EqualValues(t, 105, fin["scans"], "3.5 s at 30 Hz")

	// The summary ends the output, and the data were recorded.
	out := strings.Join(h.lines, "\n")
	require.Regexp(t, `neurons 12  median [+-]\d\.\d{3}  quartiles \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]`, out)
	runs, err := filepath.Glob(filepath.Join(dir, "runs", "e2e-*"))
	require.NoError(t, err)
	require.Len(t, runs, 1)
	for file, rows := range map[string]int{"frames.csv": 105, "predictions.csv": 105, "scans.csv": 105} {
		data, err := os.ReadFile(filepath.Join(runs[0], file))
		require.NoError(t, err)
		require.Equal(t, rows+1, strings.Count(string(data), "\n"), "%s rows plus a header", file)
	}
	var summary map[string]any
	data, err := os.ReadFile(filepath.Join(runs[0], "summary.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &summary))
	require.Equal(t, "ok", summary["status"])

	// The journal holds what produced the session and every event, in
	// order; the inputs are kept beside the data.
	var events []string
	launched := map[string]any{}
	for _, e := range journal(t, runs[0]) {
		if e["kind"] == "launched" {
			// Journal only: the binaries that ran, with their hashes.
			require.EqualValues(t, 0, e["attempt"])
			launched[e["plugin"].(string)] = e["sha256"]
			sum, err := rig.FileSHA256(e["path"].(string))
			require.NoError(t, err)
			require.Equal(t, sum, e["sha256"], "%s plugin", e["plugin"])
			continue
		}
		if e["kind"] == "stage_done" {
			continue // journal only: completed stages, for a resume
		}
		events = append(events, e["kind"].(string))
		if e["kind"] == "session" {
			require.Regexp(t, `^[0-9a-f]{64}$`, e["protocol"].(map[string]any)["sha256"])
		}
	}
	require.Equal(t, []string{"session", "started"}, events[:2])
	require.Len(t, launched, 3, "one launched entry per plugin")
	require.Equal(t, "finished", events[len(events)-1])
	require.Equal(t, len(kinds(msgs())), len(events)-1, "every MQTT event is journaled")
	for _, kept := range []string{"config.yaml", "protocol.yaml"} {
		_, err := os.Stat(filepath.Join(runs[0], kept))
		require.NoError(t, err, kept)
	}
}

// startLongSession starts a one-minute session on the real clock in dir,
// subscribes to its events, and returns once scans are coming in.
func startLongSession(t *testing.T, dir string, flags ...string) (*host, func() []message) {
	t.Helper()
	cfg := rigConfig{clock: "real", blocks: `
  - name: long
    duration: 60s
    stimulus: {family: grating, seed: 1}
`}.write(t, dir)
	h := startHost(t, append(append([]string{"run", "-await-subscriber", "30s"}, flags...), cfg)...)
	m := h.readUntil(t, brokerLine)
	msgs := subscribe(t, m[1], m[2]+"/#")
	h.readUntil(t, regexp.MustCompile(`block 1/1 long .* scans [1-9]`))
	return h, msgs
}

func TestInterruptStopsCleanlyAndKeepsTheData(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { testInterrupt(t, sig) })
	}
}

func testInterrupt(t *testing.T, sig syscall.Signal) {
	dir := t.TempDir()
	h, msgs := startLongSession(t, dir)
	require.NoError(t, h.cmd.Process.Signal(sig))
	code := h.wait(t)
	require.Equal(t, 130, code, "exit code after %s; stderr:\n%s", sig, h.stderr)
	requireNoPlugins(t)

	got := msgs()
	k := kinds(got)
	require.Equal(t, "started", k[0])
	require.Equal(t, "finished", k[len(k)-1])
	require.Equal(t, "interrupted", got[len(got)-1].payload["status"])

	runs, err := filepath.Glob(filepath.Join(dir, "runs", "e2e-*", "scans.csv"))
	require.NoError(t, err)
	require.Len(t, runs, 1)
	data, err := os.ReadFile(runs[0])
	require.NoError(t, err)
	require.Greater(t, strings.Count(string(data), "\n"), 1, "the scans recorded before the interrupt are kept")
}

// runHost runs the host to completion and returns its exit code and output.
func runHost(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "twinrig"), args...)
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

func TestBadInputGivesOneClearErrorAndLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	exits := filepath.Join(dir, "exits-at-start")
	require.NoError(t, os.WriteFile(exits, []byte("#!/bin/sh\necho 'cannot open /dev/nvidia0' >&2\nexit 3\n"), 0o755))
	notModel := filepath.Join(dir, "not-a-model.onnx")
	require.NoError(t, os.WriteFile(notModel, []byte("this is not an ONNX model"), 0o644))
	// A real ONNX model that names its output "rates" instead of "responses".
	g := onnxbuild.Graph{
		Name: "off-contract",
		Inputs: []onnxbuild.ValueInfo{
			{Name: "frame", Type: onnxbuild.Uint8, Shape: []int64{1, 1, 144, 256}},
			{Name: "perspective", Type: onnxbuild.Float, Shape: []int64{1, 2}},
			{Name: "modulation", Type: onnxbuild.Float, Shape: []int64{1, 2}},
		},
		Outputs: []onnxbuild.ValueInfo{{Name: "rates", Type: onnxbuild.Float, Shape: []int64{1, 2}}},
	}
	g.Add("Exp", []string{"modulation"}, []string{"rates"})
	offContract := filepath.Join(dir, "off-contract.onnx")
	data, err := (&onnxbuild.Model{Graph: g}).Marshal()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(offContract, data, 0o644))

	tests := []struct {
		name string
		cfg  rigConfig
		code int
		want []string
	}{
		{"missing plugin binary", rigConfig{model: filepath.Join(dir, "nope")}, 2,
			[]string{"rig.yaml:", "plugins.model.path", "nope"}},
		{"plugin exits at start", rigConfig{model: exits}, 1,
			[]string{"model plugin", "exits-at-start", "exited before the handshake", "cannot open /dev/nvidia0"}},
		{"plugin speaks another protocol version", rigConfig{stimulus: filepath.Join(bin, "v2plugin")}, 1,
			[]string{"stimulus plugin", "v2plugin", "protocol version", "Plugin version: 2"}},
		{"model file is not a model", rigConfig{modelFile: notModel}, 1,
			[]string{"model plugin", "plugins.model.settings", "not-a-model.onnx"}},
		{"model does not fit the contract", rigConfig{modelFile: offContract}, 1,
			[]string{"model plugin", "off-contract.onnx", `"responses"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg.write(t, t.TempDir())
			code, out := runHost(t, "run", cfg)
			require.Equal(t, tt.code, code, "exit code; output:\n%s", out)
			for _, w := range tt.want {
				require.Contains(t, out, w)
			}
			requireNoPlugins(t)
		})
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	cfg := rigConfig{}.write(t, dir)
	code, out := runHost(t, "validate", cfg)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "ok (rig e2e-rig, protocol e2e: 2 blocks (2 present), 3.5s of stimuli)")

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("rig: e2e\nsession:\n  clock: fast\n"), 0o644))
	code, out = runHost(t, "validate", bad)
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "bad.yaml:3:")
	require.Contains(t, out, "session.clock")
	require.Contains(t, out, "plugins")
}

func TestHelpAndUsage(t *testing.T) {
	code, out := runHost(t, "help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "twinrig run [flags] CONFIG")
	code, out = runHost(t, "frobnicate")
	require.Equal(t, 2, code)
	require.Contains(t, out, `unknown command "frobnicate"`)
	code, _ = runHost(t, "run")
	require.Equal(t, 2, code, "run without a config")
}

func TestPluginDeathEndsTheSessionNamingThePlugin(t *testing.T) {
	dir := t.TempDir()
	h, msgs := startLongSession(t, dir, "-restarts", "0")
	var model []string
	for _, p := range pluginProcesses(t, bin) {
		if strings.HasSuffix(p, "/twinrig-model") {
			model = append(model, p)
		}
	}
	require.Len(t, model, 1, "one model plugin process")
	var pid int
	_, err := fmt.Sscanf(model[0], "%d", &pid)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	code := h.wait(t)
	require.Equal(t, 1, code, "exit code; stderr:\n%s", h.stderr)
	require.Contains(t, h.stderr.String(), "model plugin")
	requireNoPlugins(t)
	got := msgs()
	last := got[len(got)-1].payload
	require.Equal(t, "finished", last["kind"])
	require.Equal(t, "error", last["status"])
	errEvent := got[len(got)-2].payload
	require.Equal(t, "error", errEvent["kind"])
	require.Equal(t, "model", errEvent["plugin"])
}

// TestAdaptationEndToEnd: a mapping block adapts the model plugin's readout
// to the simulated neurons, then a repeated test clip is scored with the
// trial-averaged measures; the adapted event arrives over MQTT.
func TestAdaptationEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := rigConfig{neurons: 8, blocks: `
  - name: mapping
    duration: 60s
    stimulus: {family: natural, seed: 4}
    adapt: {indicator_decay: 1.25s}
  - name: clip
    duration: 3s
    repeats: 3
    stimulus: {family: natural, seed: 5}
`}.write(t, dir)
	h := startHost(t, "run", "-await-subscriber", "30s", cfg)
	m := h.readUntil(t, brokerLine)
	msgs := subscribe(t, m[1], m[2]+"/#")
	code := h.wait(t)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", strings.Join(h.lines, "\n"), h.stderr)
	out := strings.Join(h.lines, "\n")
	require.Regexp(t, `adapted the readout after block mapping: 8 neurons from \d+ scans`, out)
	require.Regexp(t, `saved to .*readout-mapping.json`, out)
	require.Regexp(t, `block clip .*; 3 repeats: median CC_norm [+-]\d\.\d{3}`, out)
	var adapted map[string]any
	for _, msg := range msgs() {
		if msg.payload["kind"] == "adapted" {
			adapted = msg.payload
		}
	}
	require.NotNil(t, adapted, "an adapted event")
	require.EqualValues(t, 8, adapted["neurons"])
	require.Equal(t, "mapping", adapted["block"])
	requireNoPlugins(t)
}

// TestPauseResumeAbortFromTheCommandLine: `twinrig control` pauses the
// running session at a trial boundary (no new trial starts while paused),
// resumes it, and aborts it: the host exits 3 with status "aborted", the
// data recorded until then kept, no plugin left behind.
func TestPauseResumeAbortFromTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	cfg := rigConfig{clock: "real", blocks: `
  - name: trial
    duration: 500ms
    repeats: 200
    stimulus: {family: grating, seed: 1}
`}.write(t, dir)
	h := startHost(t, "run", "-await-subscriber", "30s", cfg)
	m := h.readUntil(t, brokerLine)
	msgs := subscribe(t, m[1], m[2]+"/#")
	blocks := func() int {
		n := 0
		for _, k := range kinds(msgs()) {
			if k == "trial" {
				n++
			}
		}
		return n
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			require.True(t, time.Now().Before(deadline), "timed out waiting for %s; stderr:\n%s", what, h.stderr)
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("two trials", func() bool { return blocks() >= 2 })

	code, out := runHost(t, "control", cfg, "pause")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `session e2e-\S+: paused`, out)
	// The trial on screen ends; then no trial starts while paused.
	var before int
	waitFor("the pause to take effect", func() bool {
		before = blocks()
		time.Sleep(1500 * time.Millisecond)
		return blocks() == before
	})
	time.Sleep(time.Second)
	require.Equal(t, before, blocks(), "a trial started while paused")

	code, out = runHost(t, "control", cfg, "resume")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `: running`, out)
	waitFor("a trial after resume", func() bool { return blocks() > before })

	code, out = runHost(t, "control", cfg, "abort", "enough", "data")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `: aborting`, out)
	require.Equal(t, 3, h.wait(t), "stderr:\n%s", h.stderr)
	require.Contains(t, h.stderr.String(), "session aborted: enough data")
	requireNoPlugins(t)

	got := msgs()
	var controls []string
	for _, msg := range got {
		if msg.payload["kind"] == "control" {
			controls = append(controls, msg.payload["command"].(string)+"->"+msg.payload["state"].(string))
		}
	}
	require.Equal(t, []string{"pause->paused", "resume->running", "abort->aborting"}, controls)
	require.Equal(t, "aborted", got[len(got)-1].payload["status"])
	runs, err := filepath.Glob(filepath.Join(dir, "runs", "e2e-*"))
	require.NoError(t, err)
	require.Len(t, runs, 1)
	summary, err := os.ReadFile(filepath.Join(runs[0], "summary.json"))
	require.NoError(t, err)
	require.Contains(t, string(summary), `"status": "aborted"`)
	scans, err := os.ReadFile(filepath.Join(runs[0], "scans.csv"))
	require.NoError(t, err)
	require.Greater(t, strings.Count(string(scans), "\n"), 10, "the scans recorded before the abort are kept")

	// Nothing is running now: control says so.
	code, out = runHost(t, "control", cfg, "pause")
	require.Equal(t, 1, code)
	require.Contains(t, out, "no running session of rig \"e2e-rig\"")
}

// loopBlocks is a short closed loop: mapping, repeated test clips,
// adaptation, selection with image and video MEIs, verification.
const loopBlocks = `
  - present:
      name: mapping
      trials: [{duration: 60s, stimulus: {family: natural, seed: 4}}]
  - present:
      name: test
      trials:
        - {duration: 3s, stimulus: {family: natural, seed: 5}}
        - {duration: 3s, stimulus: {family: natural, seed: 6}}
      repeats: 3
      order: random
      seed: 1
  - adapt:
      name: fit
      from: [mapping]
      hold_out: [test]
      indicator_decay: 1.25s
  - select:
      name: targets
      neurons: {best: 3, by: cc_norm, from: test}
      pool:
        natural: {clips: 6, duration: 500ms, seed: 7}
        gabor: {orientations: 4, cycles_per_width: [4], phases: 2, columns: 3, rows: 2, seed: 1}
      synthesise: {images: 1, videos: 1, video_duration: 500ms, iterations: 4, population: 6}
  - verify:
      name: check
      select: targets
      controls: [best_natural, best_gabor, blank]
      duration: 1s
      repeats: 2
      seed: 3
      inter_trial: 500ms
`

// TestInceptionLoopEndToEnd: a small closed loop on the simulated rig (map,
// test, adapt, select targets by CC_norm, rank a pool and synthesise MEIs,
// verify them among controls) runs through the real plugins, prints the
// verification table, and leaves the selection, the grades and the events
// in the session's record.
func TestInceptionLoopEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := rigConfig{neurons: 12, version2: true, blocks: loopBlocks}.write(t, dir)
	h := startHost(t, "run", "-await-subscriber", "30s", cfg)
	m := h.readUntil(t, brokerLine)
	msgs := subscribe(t, m[1], m[2]+"/#")
	code := h.wait(t)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", strings.Join(h.lines, "\n"), h.stderr)
	out := strings.Join(h.lines, "\n")
	require.Regexp(t, `block test .* median CC_norm [+-]\d\.\d{3} .* with the readout of fit`, out)
	require.Regexp(t, `targets: 3 targets, most exciting inputs ranked and synthesised in [\d.]+ s; MEIs vs the targets' analytic optimal stimuli: median r [+-]\d\.\d{3}`, out)
	require.Contains(t, out, "verification check:")
	require.Regexp(t, `targets 3, evaluated 3, driven \d`, out)

	var selected, verified map[string]any
	for _, msg := range msgs() {
		switch msg.payload["kind"] {
		case "selected":
			selected = msg.payload
		case "verified":
			verified = msg.payload
		}
	}
	require.NotNil(t, selected)
	require.Len(t, selected["targets"], 3)
	require.NotNil(t, verified)
	require.EqualValues(t, 3, verified["evaluated"])

	runs, err := filepath.Glob(filepath.Join(dir, "runs", "e2e-*"))
	require.NoError(t, err)
	require.Len(t, runs, 1)
	var sel struct {
		Targets []struct {
			ID   string
			MEIs []struct {
				Sequence *struct {
					RateHz float64 `json:"rate_hz"`
					Frames [][]byte
				}
				Image string
			} `json:"meis"`
			Controls map[string]json.RawMessage
		}
	}
	data, err := os.ReadFile(filepath.Join(runs[0], "selection-targets.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &sel))
	require.Len(t, sel.Targets, 3)
	for _, tg := range sel.Targets {
		require.Len(t, tg.MEIs, 2, "target %s: an image and a video MEI", tg.ID)
		require.NotNil(t, tg.MEIs[0].Sequence, "an MEI is shown as a frame sequence")
		require.Len(t, tg.MEIs[0].Sequence.Frames, 1, "the image MEI")
		require.Len(t, tg.MEIs[1].Sequence.Frames, 15, "the video MEI: 500 ms at the model's 30 Hz")
		require.Equal(t, 30.0, tg.MEIs[1].Sequence.RateHz)
		_, err := os.Stat(filepath.Join(runs[0], tg.MEIs[0].Image))
		require.NoError(t, err, "the MEI's picture")
		require.Contains(t, tg.Controls, "best_natural")
		require.Contains(t, tg.Controls, "best_gabor")
	}
	for _, f := range []string{"verify-check.json", "verify-check.csv"} {
		_, err := os.Stat(filepath.Join(runs[0], f))
		require.NoError(t, err, f)
	}
	// The journal records each stage as it completes.
	entries := journal(t, runs[0])
	for _, e := range entries {
		if e["kind"] == "stage_done" && e["stage"] == "fit" {
			require.Regexp(t, `readout-mapping\.json$`, e["readout"])
			require.Regexp(t, `^[0-9a-f]{64}$`, e["readout_sha256"])
		}
	}
	require.Equal(t, []string{"mapping", "test", "fit", "targets", "check"}, stagesDone(entries))
	requireNoPlugins(t)
}

// TestResumeAfterKill9: the host is killed (SIGKILL) during verification;
// `twinrig run -resume` continues the session from its record: the
// completed blocks (mapping, test, adaptation, selection) are not run again,
// the readout is restored, and verification completes, in the same session
// directory.
func TestResumeAfterKill9(t *testing.T) {
	dir := t.TempDir()
	cfg := rigConfig{neurons: 12, version2: true, blocks: `
  - present:
      name: mapping
      trials: [{duration: 60s, stimulus: {family: natural, seed: 4}}]
  - present:
      name: test
      trials:
        - {duration: 3s, stimulus: {family: natural, seed: 5}}
        - {duration: 3s, stimulus: {family: natural, seed: 6}}
      repeats: 3
      seed: 1
  - adapt: {name: fit, from: [mapping], hold_out: [test], indicator_decay: 1.25s}
  - select:
      name: targets
      neurons: {best: 3, by: cc_norm, from: test}
      pool:
        natural: {clips: 6, duration: 500ms, seed: 7}
        gabor: {orientations: 4, cycles_per_width: [4], phases: 2, columns: 3, rows: 2, seed: 1}
      synthesise: {images: 1, iterations: 4, population: 6}
  - verify:
      name: check
      select: targets
      controls: [best_natural, best_gabor, blank]
      duration: 1s
      repeats: 30
      seed: 3
      inter_trial: 1s
`}.write(t, dir)
	h := startHost(t, "run", "-await-subscriber", "30s", cfg)
	m := h.readUntil(t, brokerLine)
	msgs := subscribe(t, m[1], m[2]+"/#")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		selected := false
		for _, msg := range msgs() {
			selected = selected || msg.payload["kind"] == "selected"
		}
		if selected {
			break
		}
		require.True(t, time.Now().Before(deadline), "no selected event; stderr:\n%s", h.stderr)
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // into the verification
	require.NoError(t, h.cmd.Process.Signal(syscall.SIGKILL))
	_ = h.cmd.Wait()
	requireNoPlugins(t)

	runs, err := filepath.Glob(filepath.Join(dir, "runs", "e2e-*"))
	require.NoError(t, err)
	require.Len(t, runs, 1)
	// The session directory moves elsewhere (as a copy would): it resumes
	// from its own files, the readout included (the journal names it
	// relative to the session directory; the original is gone).
	moved := filepath.Join(dir, "moved", filepath.Base(runs[0]))
	require.NoError(t, os.MkdirAll(filepath.Dir(moved), 0o755))
	require.NoError(t, os.Rename(runs[0], moved))
	runs[0] = moved
	// A crash tore the last row of scans.csv and the journal's last line:
	// both are cut back before anything is appended.
	for _, torn := range []struct{ name, text string }{{"scans.csv", "123,4.5"}, {"journal.jsonl", `{"kind":"trial","blo`}} {
		f, err := os.OpenFile(filepath.Join(moved, torn.name), os.O_WRONLY|os.O_APPEND, 0)
		require.NoError(t, err)
		_, err = f.WriteString(torn.text)
		require.NoError(t, errors.Join(err, f.Close()))
	}
	code, out := runHost(t, "run", "-quiet", "-resume", runs[0], cfg)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "verification check:")
	require.Regexp(t, `targets 3, evaluated 3`, out)
	require.Regexp(t, `cut a torn last line" file=\S*scans.csv bytes=7`, out)
	require.Regexp(t, `cut a torn last line" file=\S*journal.jsonl bytes=20`, out)
	require.Contains(t, out, filepath.Join(moved, "readout-mapping.json"), "the readout restored is the moved directory's")
	scans := strings.Split(strings.TrimSuffix(string(mustRead(t, filepath.Join(moved, "scans.csv"))), "\n"), "\n")
	for i, row := range scans {
		require.Equal(t, strings.Count(scans[0], ","), strings.Count(row, ","), "scans.csv line %d: %q", i+1, row)
	}
	code, out = runHost(t, "check", runs[0])
	require.Equal(t, 0, code, "twinrig check:\n%s", out)
	require.Regexp(t, `^ok: \d+ frames, \d+ scans, \d+ predictions over 2 attempts\n$`, out)

	// Resuming the finished session does nothing, and says so.
	summary := mustRead(t, filepath.Join(moved, "summary.json"))
	journalBefore := mustRead(t, filepath.Join(moved, "journal.jsonl"))
	code, out = runHost(t, "run", "-resume", runs[0], cfg)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "already finished")
	require.Equal(t, string(summary), string(mustRead(t, filepath.Join(moved, "summary.json"))))
	require.Equal(t, string(journalBefore), string(mustRead(t, filepath.Join(moved, "journal.jsonl"))))

	// A corrupt line inside the journal is refused, naming the line.
	corrupt := bytes.Replace(journalBefore, []byte("\n"), []byte("\n\x00\x00\x00\n"), 1)
	require.NoError(t, os.WriteFile(filepath.Join(moved, "journal.jsonl"), corrupt, 0o644))
	code, out = runHost(t, "run", "-resume", runs[0], cfg)
	require.Equal(t, 2, code, out)
	require.Regexp(t, `journal.jsonl: resume: journal line 2 is not a journal entry`, out)
	require.NoError(t, os.WriteFile(filepath.Join(moved, "journal.jsonl"), journalBefore, 0o644))

	entries := journal(t, runs[0])
	resumed := 0
	for _, e := range entries {
		if e["kind"] == "resumed" {
			resumed++
			require.Equal(t, []any{"mapping", "test", "fit", "targets"}, e["completed"])
		}
	}
	require.Equal(t, 1, resumed)
	require.Equal(t, []string{"mapping", "test", "fit", "targets", "check"}, stagesDone(entries), "no completed block ran twice")
	_, err = os.Stat(filepath.Join(runs[0], "verify-check.json"))
	require.NoError(t, err)
	requireNoPlugins(t)

	// A journal of another protocol is refused.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "protocol.yaml"), append(mustRead(t, filepath.Join(dir, "protocol.yaml")), '\n', '#'), 0o644))
	code, out = runHost(t, "run", "-resume", runs[0], cfg)
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "another version of the protocol")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

// fourBlocks is a protocol (format 2) of four 1.5 s grating blocks, a to
// d: long enough on the real clock to strike a plugin in block b and see
// the session go on.
const fourBlocks = `
  - present: {name: a, trials: [{duration: 1500ms, stimulus: {family: grating, seed: 1}}]}
  - present: {name: b, trials: [{duration: 1500ms, stimulus: {family: grating, seed: 2}}]}
  - present: {name: c, trials: [{duration: 1500ms, stimulus: {family: grating, seed: 3}}]}
  - present: {name: d, trials: [{duration: 1500ms, stimulus: {family: grating, seed: 4}}]}
`

// TestPluginDeathRestartsAndContinues: with restarts allowed (the
// default), a plugin killed mid-session is named, the plugins are started
// again, and the session continues from its record: every block completes
// exactly once and the host exits 0.
func TestPluginDeathRestartsAndContinues(t *testing.T) {
	dir := t.TempDir()
	cfg := rigConfig{clock: "real", version2: true, blocks: fourBlocks}.write(t, dir)
	h := startHost(t, "run", "-await-subscriber", "30s", cfg)
	m := h.readUntil(t, brokerLine)
	msgs := subscribe(t, m[1], m[2]+"/#")
	h.readUntil(t, regexp.MustCompile(`block 2/4 b `))
	var pid int
	for _, p := range pluginProcesses(t, bin) {
		if strings.HasSuffix(p, "/twinrig-stimulus") {
			_, err := fmt.Sscanf(p, "%d", &pid)
			require.NoError(t, err)
		}
	}
	require.NotZero(t, pid)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	code := h.wait(t)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", strings.Join(h.lines, "\n"), h.stderr)
	require.Contains(t, h.stderr.String(), "stimulus plugin")
	require.Contains(t, strings.Join(h.lines, "\n"), "restarting the plugins and resuming session")
	requireNoPlugins(t)

	var plugin any
	for _, msg := range msgs() {
		if msg.payload["kind"] == "error" {
			plugin = msg.payload["plugin"]
		}
	}
	require.Equal(t, "stimulus", plugin, "an error event names the plugin")
	runs, err := filepath.Glob(filepath.Join(dir, "runs", "e2e-*"))
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, []string{"a", "b", "c", "d"}, stagesDone(journal(t, runs[0])), "every block once")
	var attempts []any
	for _, e := range journal(t, runs[0]) {
		if e["kind"] == "launched" && e["plugin"] == "stimulus" {
			require.Regexp(t, `^[0-9a-f]{64}$`, e["sha256"])
			attempts = append(attempts, e["attempt"])
		}
	}
	require.Equal(t, []any{0.0, 1.0}, attempts, "the restarted binary is on record too")
	code, out := runHost(t, "check", runs[0])
	require.Equal(t, 0, code, "twinrig check:\n%s", out)
	require.Contains(t, out, "over 2 attempts")
}

// TestPinnedPluginHash: a model plugin pinned to another SHA-256 is
// refused by validate and by run, naming the plugin, the binary and both
// hashes, and no session directory is made.
func TestPinnedPluginHash(t *testing.T) {
	model := filepath.Join(bin, "twinrig-model")
	actual, err := rig.FileSHA256(model)
	require.NoError(t, err)
	wrong := strings.Repeat("0", 64)
	dir := t.TempDir()
	cfg := rigConfig{modelPin: wrong}.write(t, dir)
	for _, cmd := range []string{"validate", "run"} {
		code, out := runHost(t, cmd, cfg)
		require.Equal(t, 2, code, "%s: %s", cmd, out)
		for _, want := range []string{"rig.yaml:", "plugins.model.sha256", "model plugin", model, "expected sha256 " + wrong, "actual " + actual} {
			require.Contains(t, out, want, cmd)
		}
	}
	_, err = os.Stat(filepath.Join(dir, "runs"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing recorded")

	pinned := rigConfig{modelPin: strings.ToUpper(actual)}.write(t, t.TempDir())
	code, out := runHost(t, "validate", pinned)
	require.Equal(t, 0, code, out)
	requireNoPlugins(t)
}

// journal reads a session directory's journal.jsonl, skipping a line torn
// by a kill (the last one can be).
func journal(t *testing.T, dir string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "journal.jsonl")))), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// stagesDone lists the stages a journal records as completed, in order.
func stagesDone(entries []map[string]any) []string {
	var done []string
	for _, e := range entries {
		if e["kind"] == "stage_done" {
			done = append(done, e["stage"].(string))
		}
	}
	return done
}
