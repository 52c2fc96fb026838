//go:build soak

// The soak benchmark (issue 12): the host and its plugins over a long
// session, their memory sampled as it runs. Opt in with the soak tag:
//
//	go test -tags soak -run Soak -timeout 30h -v ./tests/
//
// TestSoakVirtual runs TWINRIG_SOAK_HOURS (24) simulated hours on the
// virtual clock, TestSoakReal TWINRIG_SOAK_REAL (1h) on the real clock,
// both with TWINRIG_SOAK_NEURONS (1000) neurons and the built-in model, a
// TWINRIG_SOAK_MAPPING (10m) mapping block and TWINRIG_SOAK_REPEATS (10)
// repeats of the test clips (see soakProtocol).
// Every TWINRIG_SOAK_EVERY (10s) each writes the VmRSS of the host and of
// every plugin process (their pids from the journal's launched entries) to
// soak-<clock>.csv in TWINRIG_SOAK_OUT (the system's temporary directory),
// and at the end prints per process the RSS first, settled (after
// TWINRIG_SOAK_SETTLE, 10m, of wall time), last and at most while the
// session ran (until its summary.json appeared), and its growth after
// settling (the least-squares slope) per hour of wall time and per hour of
// session time. TWINRIG_SOAK_HOST runs another host binary (an
// older one, to compare).
package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func soakEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// soakProtocol is a day at the rig: mapping (10 min) of natural video to
// map the neurons, 6 test clips of 5 s x repeats (10), the readout adapted
// once on the mapping and scored on the test clips, then natural video for
// the rest of the session in blocks of an hour, each of 5-minute clips.
func soakProtocol(total, mapping time.Duration, repeats int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 2
name: soak
blank: {family: blank}
blocks:
  - present:
      name: gray
      trials:
        - {duration: 2s, stimulus: {family: blank}}
  - present:
      name: mapping
      trials:
        - {duration: %s, stimulus: {family: natural, seed: 11}}
  - present:
      name: test
      trials:
`, mapping)
	for i := range 6 {
		fmt.Fprintf(&b, "        - {duration: 5s, stimulus: {family: natural, seed: %d}}\n", 101+i)
	}
	fmt.Fprintf(&b, `      repeats: %d
      order: random
      seed: 2
  - adapt:
      name: fit
      from: [gray, mapping]
      hold_out: [test]
      indicator_decay: 1.25s
`, repeats)
	left := total - mapping - time.Duration(repeats)*30*time.Second
	for block := 0; left > 0; block++ {
		fmt.Fprintf(&b, "  - present:\n      name: video-%d\n      trials:\n", block)
		for clip := 0; clip < 12 && left > 0; clip++ {
			d := min(left, 5*time.Minute)
			fmt.Fprintf(&b, "        - {duration: %s, stimulus: {family: natural, seed: %d}}\n", d, 1000+block*12+clip)
			left -= d
		}
	}
	return b.String()
}

func TestSoakVirtual(t *testing.T) {
	hours, err := strconv.ParseFloat(soakEnv("TWINRIG_SOAK_HOURS", "24"), 64)
	require.NoError(t, err)
	soak(t, "virtual", time.Duration(hours*float64(time.Hour)))
}

func TestSoakReal(t *testing.T) {
	d, err := time.ParseDuration(soakEnv("TWINRIG_SOAK_REAL", "1h"))
	require.NoError(t, err)
	soak(t, "real", d)
}

// sample is one process's RSS at one time.
type sample struct {
	at  time.Duration
	rss int64 // kB
}

func soak(t *testing.T, clock string, total time.Duration) {
	neurons, err := strconv.Atoi(soakEnv("TWINRIG_SOAK_NEURONS", "1000"))
	require.NoError(t, err)
	every, err := time.ParseDuration(soakEnv("TWINRIG_SOAK_EVERY", "10s"))
	require.NoError(t, err)
	outDir := soakEnv("TWINRIG_SOAK_OUT", os.TempDir())
	require.NoError(t, os.MkdirAll(outDir, 0o755))
	hostBin := soakEnv("TWINRIG_SOAK_HOST", filepath.Join(bin, "twinrig"))
	settle, err := time.ParseDuration(soakEnv("TWINRIG_SOAK_SETTLE", "10m"))
	require.NoError(t, err)

	mapping, err := time.ParseDuration(soakEnv("TWINRIG_SOAK_MAPPING", "10m"))
	require.NoError(t, err)
	repeats, err := strconv.Atoi(soakEnv("TWINRIG_SOAK_REPEATS", "10"))
	require.NoError(t, err)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "protocol.yaml"), []byte(soakProtocol(total, mapping, repeats)), 0o644))
	cfg := fmt.Sprintf(`rig: soak-rig
session:
  name: soak
  clock: %s
  protocol: protocol.yaml
  output: runs
plugins:
  stimulus:
    path: %s
    settings: {display: headless, refresh_hz: 30}
  acquisition:
    path: %s
    settings: {neurons: %d, seed: 1, imaging_rate_hz: 30}
  model:
    path: %s
    settings: {model: builtin:default, neurons: %d, threads: 1}
mqtt:
  broker: embedded
  listen: 127.0.0.1:0
`, clock, filepath.Join(bin, "twinrig-stimulus"), filepath.Join(bin, "twinrig-acquisition"), neurons,
		filepath.Join(bin, "twinrig-model"), neurons)
	config := filepath.Join(dir, "rig.yaml")
	require.NoError(t, os.WriteFile(config, []byte(cfg), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Hour)
	defer cancel()
	cmd := exec.CommandContext(ctx, hostBin, "run", "-quiet", config)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	csvPath := filepath.Join(outDir, "soak-"+clock+".csv")
	f, err := os.Create(csvPath)
	require.NoError(t, err)
	defer f.Close()
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "elapsed_s,process,pid,rss_kb")

	started := time.Now()
	series := map[string][]sample{}
	var order []string
	pids := map[string]int{"host": cmd.Process.Pid}
	var ended time.Duration // when summary.json appeared: the session's end
	take := func() {
		if ended == 0 {
			if m, _ := filepath.Glob(filepath.Join(dir, "runs", "*", "summary.json")); len(m) > 0 {
				ended = time.Since(started)
			}
		}
		for _, p := range launched(filepath.Join(dir, "runs")) {
			pids[p.name] = p.pid
		}
		at := time.Since(started)
		for _, name := range []string{"host", "stimulus", "acquisition", "model"} {
			pid, ok := pids[name]
			if !ok {
				continue
			}
			rss, ok := vmRSS(pid)
			if !ok {
				continue
			}
			if _, seen := series[name]; !seen {
				order = append(order, name)
			}
			series[name] = append(series[name], sample{at: at, rss: rss})
			fmt.Fprintf(w, "%.1f,%s,%d,%d\n", at.Seconds(), name, pid, rss)
		}
		w.Flush()
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	take()
	var runErr error
wait:
	for {
		select {
		case runErr = <-done:
			break wait
		case <-tick.C:
			take()
		}
	}
	require.NoError(t, runErr, "%s", out.String())
	wall := time.Since(started)
	if ended == 0 {
		ended = wall
	}
	t.Logf("%s clock, %s of session time, %d neurons: %s wall; samples in %s", clock, total, neurons, wall.Round(time.Second), csvPath)
	t.Logf("%-12s %10s %10s %10s %10s %14s %16s", "process", "first MB", "settled MB", "last MB", "max MB", "MB/h of wall", "MB/h of session")
	speed := total.Seconds() / ended.Seconds() // session time per wall time
	for _, name := range order {
		s := series[name]
		for len(s) > 1 && s[len(s)-1].at >= ended {
			s = s[:len(s)-1] // the host's exit
		}
		first, last := s[0], s[len(s)-1]
		settled := s[0]
		var most int64
		for _, x := range s {
			if x.at <= settle {
				settled = x
			}
			most = max(most, x.rss)
		}
		// The slope after settling (least squares).
		slope := math.NaN()
		var after []sample
		for _, x := range s {
			if x.at >= settled.at {
				after = append(after, x)
			}
		}
		if len(after) > 2 {
			var mx, my float64
			for _, x := range after {
				mx += x.at.Hours()
				my += mb(x.rss)
			}
			mx /= float64(len(after))
			my /= float64(len(after))
			var sxy, sxx float64
			for _, x := range after {
				sxy += (x.at.Hours() - mx) * (mb(x.rss) - my)
				sxx += (x.at.Hours() - mx) * (x.at.Hours() - mx)
			}
			slope = sxy / sxx
		}
		t.Logf("%-12s %10.1f %10.1f %10.1f %10.1f %14.1f %16.1f", name, mb(first.rss), mb(settled.rss), mb(last.rss), mb(most), slope, slope/speed)
	}
	summary := out.String()
	if i := strings.Index(summary, "session time"); i >= 0 {
		t.Logf("summary:\n%s", summary[i:])
	}
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// vmRSS reads a process's resident set size in kB.
func vmRSS(pid int) (int64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				n, err := strconv.ParseInt(fields[0], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

type plugin struct {
	name string
	pid  int
}

// launched returns the plugin processes of the latest launch in the
// journals under dir.
func launched(dir string) []plugin {
	journals, _ := filepath.Glob(filepath.Join(dir, "*", "journal.jsonl"))
	var out []plugin
	for _, j := range journals {
		f, err := os.Open(j)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var e struct {
				Kind   string `json:"kind"`
				Plugin string `json:"plugin"`
				Pid    int    `json:"pid"`
			}
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Kind == "launched" && e.Pid > 0 {
				out = append(out, plugin{name: e.Plugin, pid: e.Pid})
			}
		}
		f.Close()
	}
	return out
}
