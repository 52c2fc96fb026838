package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The fault matrix (issue 12): a small closed loop on the virtual clock,
// run with the real plugin binaries, with one fault injected per cell. The
// full matrix is opt-in (faults_test.go, `go test -tags faults -run Faults
// ./tests`); TestFaultsShort runs three representative cells in every
// `make test`. The helpers of both are here.

// faultBlocks is the loop every cell runs: 54.5 s of session time with a
// present stage of a single trial, a repeated present stage (the one cut
// in the present cells), an adapt, a select and a verify stage. On the
// virtual clock it takes 3-4 s of wall time unhurt.
const faultBlocks = `
  - present:
      name: mapping
      trials: [{duration: 20s, stimulus: {family: natural, seed: 4}}]
  - present:
      name: test
      trials:
        - {duration: 2s, stimulus: {family: natural, seed: 5}}
        - {duration: 2s, stimulus: {family: natural, seed: 6}}
      repeats: 3
      seed: 1
  - adapt: {name: fit, from: [mapping], hold_out: [test], indicator_decay: 1.25s}
  - select:
      name: targets
      neurons: {best: 2, by: cc_norm, from: test}
      pool:
        natural: {clips: 4, duration: 500ms, seed: 7}
        gabor: {orientations: 2, cycles_per_width: [4], phases: 2, columns: 2, rows: 2, seed: 1}
      synthesise: {images: 1, iterations: 3, population: 4}
  - verify:
      name: check
      select: targets
      controls: [best_natural, blank]
      duration: 1s
      repeats: 3
      seed: 3
      inter_trial: 500ms
`

// faultRefreshHz and faultImagingHz are the display's and the simulated
// acquisition's rates in the cells (rigConfig's defaults).
const (
	faultRefreshHz = 30.0
	faultImagingHz = 30.0
	faultNeurons   = 8
)

// faultStages names the stage of each kind in faultBlocks that a cell cuts.
var faultStages = map[string]string{"present": "test", "adapt": "fit", "select": "targets", "verify": "check"}

// stageOrder is faultBlocks' stages in protocol order.
var stageOrder = []string{"mapping", "test", "fit", "targets", "check"}

// faultCell is one cell of the matrix.
type faultCell struct {
	fault  string // sigkill, sigstop, host-sigkill, corrupt-journal, full-disk
	plugin string // stimulus, acquisition, model (sigkill, sigstop)
	stage  string // present, adapt, select, verify: when the fault strikes
	// known, when set, skips the cell in the tagged matrix (a host bug,
	// described in one line).
	known string
}

func (c faultCell) name() string {
	n := c.fault
	if c.plugin != "" {
		n += "-" + c.plugin
	}
	if c.stage != "" {
		n += "-" + c.stage
	}
	return n
}

// faultResult is what a cell found, for the summary table.
type faultResult struct {
	cell     faultCell
	cut      string  // the first stage attempt 0 did not complete
	outcome  string  // the session's final status and attempts, or the refusal
	reshown  float64 // seconds of stimulus shown again (attempt >= 1 at a time attempt 0 showed)
	bound    float64 // the most that may be shown again: from where attempt 1 resumed (the end of the last stage it kept) to the end of the cut stage
	check    string  // twinrig check's verdict
	wall     time.Duration
	skipped  string
	finished bool
}

// faultTable collects the results of a matrix run and logs them as a
// table at its end.
type faultTable struct {
	mu   sync.Mutex
	rows []faultResult
}

func (ft *faultTable) add(r faultResult) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.rows = append(ft.rows, r)
}

func (ft *faultTable) String() string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\n| fault | plugin | stage | cut | outcome | re-shown s | bound s | check | wall s |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range ft.rows {
		plugin, stage := r.cell.plugin, r.cell.stage
		if plugin == "" {
			plugin = "-"
		}
		if stage == "" {
			stage = "-"
		}
		if r.skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | %s | - | skipped: %s | - | - | - | - |\n", r.cell.fault, plugin, stage, r.skipped)
			continue
		}
		if !r.finished {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | FAILED %s | - | - | %s | %.1f |\n", r.cell.fault, plugin, stage, orDash(r.cut), r.outcome, orDash(r.check), r.wall.Seconds())
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.2f | %.2f | %s | %.1f |\n", r.cell.fault, plugin, stage, orDash(r.cut), r.outcome, r.reshown, r.bound, r.check, r.wall.Seconds())
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runFaultMatrix runs each cell as a subtest, one at a time, and logs the
// table of outcomes at the end.
func runFaultMatrix(t *testing.T, cells []faultCell, skipKnown bool) {
	table := &faultTable{}
	t.Cleanup(func() { t.Log(table) })
	for _, c := range cells {
		t.Run(c.name(), func(t *testing.T) {
			r := faultResult{cell: c}
			start := time.Now()
			defer func() {
				r.wall = time.Since(start)
				if t.Skipped() && r.skipped == "" {
					r.skipped = "see log"
				}
				table.add(r)
			}()
			if skipKnown && c.known != "" {
				r.skipped = "known: " + c.known
				t.Skip("known: " + c.known)
			}
			runFaultCell(t, c, &r)
			r.finished = true
		})
	}
}

// runFaultCell runs one cell: the session, the fault, what follows, and
// the checks of the record. r is filled in as it goes.
func runFaultCell(t *testing.T, c faultCell, r *faultResult) {
	dir := t.TempDir()
	cfg := rigConfig{neurons: faultNeurons, version2: true, blocks: faultBlocks}.write(t, dir)
	output := filepath.Join(dir, "runs")
	if c.fault == "full-disk" {
		// The host wants twice its estimate of the record's size free at
		// the start (32 MB here): the disk is filled once it runs.
		output = mountSmallDisk(t, dir, "48m")
		setOutput(t, cfg, output)
	}
	h := startHost(t, "run", cfg)
	session := sessionDir(t, h, output)

	switch c.fault {
	case "sigkill", "sigstop":
		waitForStage(t, h, session, faultStages[c.stage])
		pid := launchedPID(t, session, c.plugin)
		if c.fault == "sigkill" {
			require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		} else {
			require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // if the host did not
		}
		code := h.wait(t)
		r.outcome = fmt.Sprintf("exit %d", code)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", strings.Join(h.lines, "\n"), h.stderr)
		require.Contains(t, strings.Join(h.lines, "\n"), "restarting the plugins and resuming session")
		if c.fault == "sigstop" {
			require.Contains(t, h.stderr.String(), c.plugin+` plugin "`)
			require.Contains(t, h.stderr.String(), "hung: no answer for")
		}
	case "host-sigkill", "corrupt-journal":
		waitForStage(t, h, session, faultStages[c.stage])
		require.NoError(t, h.cmd.Process.Signal(syscall.SIGKILL))
		_ = h.cmd.Wait()
		requireNoPlugins(t)
		if c.fault == "corrupt-journal" {
			refuseCorruptJournal(t, session, cfg, r)
		}
		code, out := runHost(t, "run", "-quiet", "-resume", session, cfg)
		r.outcome += fmt.Sprintf("resume exit %d", code)
		require.Equal(t, 0, code, out)
	case "full-disk":
		waitForStage(t, h, session, faultStages["present"])
		filler := fillDisk(t, output, 16<<10)
		code := h.wait(t)
		r.outcome = fmt.Sprintf("disk full: exit %d", code)
		require.NotEqual(t, 0, code, "the session cannot have fit on the small disk; stdout:\n%s", strings.Join(h.lines, "\n"))
		t.Logf("on the full disk: exit %d; stderr:\n%s", code, lastLines(h.stderr.String(), 6))
		requireNoPlugins(t)
		requireWholeJournal(t, session)
		entries := journal(t, session)
		r.outcome += fmt.Sprintf(", whole journal (last entry %s)", entries[len(entries)-1]["kind"])
		// Space is freed: the session resumes and completes.
		require.NoError(t, os.Remove(filler))
		code, out := runHost(t, "run", "-quiet", "-resume", session, cfg)
		r.outcome += fmt.Sprintf("; freed, resume exit %d", code)
		require.Equal(t, 0, code, out)
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "torn") {
				t.Logf("resume: %s", l)
			}
		}
	default:
		t.Fatalf("unknown fault %q", c.fault)
	}
	requireNoPlugins(t)
	checkFaultRecord(t, session, r)
}

// sessionDir waits for the session's directory under output (its journal
// begun) and returns it.
func sessionDir(t *testing.T, h *host, output string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, err := filepath.Glob(filepath.Join(output, "e2e-*", "journal.jsonl"))
		require.NoError(t, err)
		if len(runs) == 1 {
			return filepath.Dir(runs[0])
		}
		require.True(t, time.Now().Before(deadline), "no session directory in %s; stderr:\n%s", output, h.stderr)
		time.Sleep(10 * time.Millisecond)
	}
}

// waitForStage polls the journal until stage is under way: a present or
// verify stage once its second (third) trial began, so that it has shown
// frames and has more to show; an adapt or select stage (which computes and
// shows nothing) once the stage before it is done.
func waitForStage(t *testing.T, h *host, session, stage string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		trials := 0
		var done []string
		for _, e := range journal(t, session) {
			switch e["kind"] {
			case "trial":
				if e["block"] == stage {
					trials++
				}
			case "stage_done":
				done = append(done, e["stage"].(string))
			case "finished":
				t.Fatalf("the session finished before stage %s could be cut", stage)
			}
		}
		require.NotContains(t, done, stage, "stage %s completed before the fault", stage)
		switch stage {
		case "test":
			if trials >= 2 {
				return
			}
		case "check":
			if trials >= 3 {
				return
			}
		case "fit":
			if len(done) > 0 && done[len(done)-1] == "test" {
				return
			}
		case "targets":
			if len(done) > 0 && done[len(done)-1] == "fit" {
				return
			}
		default:
			t.Fatalf("no trigger for stage %s", stage)
		}
		require.True(t, time.Now().Before(deadline), "stage %s did not start; stderr:\n%s", stage, h.stderr)
		time.Sleep(3 * time.Millisecond)
	}
}

// launchedPID is the pid of plugin's process of attempt 0, from the
// journal's launched entry.
func launchedPID(t *testing.T, session, plugin string) int {
	t.Helper()
	for _, e := range journal(t, session) {
		if e["kind"] == "launched" && e["plugin"] == plugin && e["attempt"] == 0.0 {
			return int(e["pid"].(float64))
		}
	}
	t.Fatalf("no launched entry of the %s plugin", plugin)
	return 0
}

// refuseCorruptJournal puts a corrupt line in the middle of the journal of
// a killed session: -resume refuses, naming the file and the line; with the
// journal repaired it resumes.
func refuseCorruptJournal(t *testing.T, session, cfg string, r *faultResult) {
	t.Helper()
	path := filepath.Join(session, "journal.jsonl")
	orig := mustRead(t, path)
	lines := bytes.SplitAfter(orig, []byte("\n"))
	mid := len(lines) / 2
	corrupt := append(append(bytes.Join(lines[:mid], nil), []byte("{\"kind\":\"trial\",\x00\x00 garbage\n")...), bytes.Join(lines[mid:], nil)...)
	require.NoError(t, os.WriteFile(path, corrupt, 0o644))
	code, out := runHost(t, "run", "-quiet", "-resume", session, cfg)
	require.Equal(t, 2, code, out)
	want := fmt.Sprintf("journal.jsonl: resume: journal line %d is not a journal entry", mid+1)
	require.Contains(t, out, want)
	require.Equal(t, string(corrupt), string(mustRead(t, path)), "a refused resume changes nothing")
	r.outcome = fmt.Sprintf("refused naming line %d; repaired, ", mid+1)
	require.NoError(t, os.WriteFile(path, orig, 0o644))
}

// requireWholeJournal: every line of the journal is a whole entry.
func requireWholeJournal(t *testing.T, session string) {
	t.Helper()
	data := mustRead(t, filepath.Join(session, "journal.jsonl"))
	require.True(t, bytes.HasSuffix(data, []byte("\n")), "the journal's last line is whole: %q", lastLines(string(data), 1))
	require.Equal(t, bytes.Count(data, []byte("\n")), len(journal(t, session)), "every journal line is an entry")
}

// checkFaultRecord checks the record of a session that ran to its end
// after the fault, and measures what was shown again.
func checkFaultRecord(t *testing.T, session string, r *faultResult) {
	t.Helper()
	code, out := runHost(t, "check", session)
	r.check = fmt.Sprintf("exit %d", code)
	require.Equal(t, 0, code, "twinrig check:\n%s", out)
	r.check = strings.TrimSpace(strings.TrimPrefix(out, "ok: "))
	if i := strings.Index(r.check, " over "); i >= 0 {
		r.check = "ok (" + r.check[i+len(" over "):] + ")"
	}

	var summary struct {
		Status   string  `json:"status"`
		Duration float64 `json:"duration_s"`
		Frames   int     `json:"frames_shown"`
		Scans    int     `json:"scans"`
		Attempts []struct {
			Why    string   `json:"why"`
			Blocks []string `json:"blocks"`
		} `json:"attempts"`
	}
	require.NoError(t, json.Unmarshal(mustRead(t, filepath.Join(session, "summary.json")), &summary))
	r.outcome += fmt.Sprintf("; %s, %d attempts", summary.Status, len(summary.Attempts))
	require.Contains(t, []string{"ok", "degraded"}, summary.Status)
	require.LessOrEqual(t, len(summary.Attempts), 2, "at most one restart")
	require.Len(t, summary.Attempts, 2, "the fault cost one restart")

	// Every stage completed; the one cut was the first attempt 0 did not
	// complete.
	entries := journal(t, session)
	attempt, lastDone0, from := 0, 0.0, -1.0
	done0 := map[string]bool{}
	final := map[string]float64{} // stage -> end_s of its last stage_done
	for _, e := range entries {
		switch e["kind"] {
		case "resumed":
			attempt = int(e["attempt"].(float64))
			if from < 0 {
				// Where attempt 1 resumed: the end of the last stage it
				// kept as completed (an adapt stage still to run has its
				// from stages run again: the model lost their features).
				from = e["from_s"].(float64)
			}
		case "stage_done":
			st := e["stage"].(string)
			final[st] = e["end_s"].(float64)
			if attempt == 0 {
				done0[st] = true
				lastDone0 = e["end_s"].(float64)
			}
		}
	}
	for _, st := range stageOrder {
		require.Contains(t, final, st, "stage %s completed", st)
		if r.cut == "" && !done0[st] {
			r.cut = st
		}
	}
	require.NotEmpty(t, r.cut, "the fault cut a stage")
	if c := r.cell; c.stage != "" && (c.fault == "sigkill" || c.fault == "host-sigkill") {
		require.Equal(t, faultStages[c.stage], r.cut, "the stage the fault struck is the one run again")
	}
	require.GreaterOrEqual(t, from, 0.0, "a resumed entry")
	require.LessOrEqual(t, from, lastDone0)
	r.bound = final[r.cut] - from

	// No scan is missing: every imaging period of the session's time has
	// a scan (the attempts together), and the summary counts the rows.
	scanRows := csvRows(t, filepath.Join(session, "scans.csv"))
	require.Len(t, scanRows, summary.Scans)
	have := map[int]bool{}
	for _, row := range scanRows {
		ts, err := strconv.ParseFloat(row[2], 64)
		require.NoError(t, err)
		have[int(math.Round(ts*faultImagingHz))] = true
	}
	periods := int(math.Round(summary.Duration * faultImagingHz))
	require.InDelta(t, final["check"], summary.Duration, 1e-6, "the session's time is its last stage's end")
	for k := range periods {
		require.True(t, have[k], "no scan at %.3f s", float64(k)/faultImagingHz)
	}

	// What was shown again: frames of a later attempt at a session time
	// (on the virtual clock: the same block and frame) attempt 0 showed.
	frameRows := csvRows(t, filepath.Join(session, "frames.csv"))
	require.Len(t, frameRows, summary.Frames)
	shown0 := map[int64]bool{}
	again := 0
	for _, row := range frameRows {
		ts, err := strconv.ParseFloat(row[2], 64)
		require.NoError(t, err)
		key := int64(math.Round(ts * 1e6))
		if row[0] == "0" {
			shown0[key] = true
		} else if shown0[key] {
			again++
		}
	}
	r.reshown = float64(again) / faultRefreshHz
	t.Logf("re-shown: %.2f s (cut %s; at most %.2f s: from %.2f s, where attempt 1 resumed, to the cut stage's end; attempt 0 completed the stages up to %.2f s)", r.reshown, r.cut, r.bound, from, lastDone0)
	require.LessOrEqual(t, r.reshown, r.bound+1/faultRefreshHz)
}

// csvRows reads a CSV file of the record without its header.
func csvRows(t *testing.T, path string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(mustRead(t, path)), "\n"), "\n")
	rows := make([][]string, 0, len(lines)-1)
	for _, l := range lines[1:] {
		rows = append(rows, strings.Split(l, ","))
	}
	return rows
}

// mountSmallDisk mounts a tmpfs of size in dir and returns its path, or
// skips the test when it cannot (not root, no mount).
func mountSmallDisk(t *testing.T, dir, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full disk needs a small tmpfs, which needs root")
	}
	mnt := filepath.Join(dir, "small")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs for a full disk: %v: %s", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// fillDisk fills the file system of dir up to leave bytes free, with a
// file it returns the path of.
func fillDisk(t *testing.T, dir string, leave int64) string {
	t.Helper()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &st))
	free := int64(st.Bavail) * st.Bsize
	require.Greater(t, free, leave)
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, syscall.Fallocate(int(f.Fd()), 0, 0, free-leave))
	return path
}

// setOutput points the config's session output at dir.
func setOutput(t *testing.T, cfg, dir string) {
	t.Helper()
	data := mustRead(t, cfg)
	require.Contains(t, string(data), "  output: runs\n")
	data = bytes.Replace(data, []byte("  output: runs\n"), fmt.Appendf(nil, "  output: %s\n", dir), 1)
	require.NoError(t, os.WriteFile(cfg, data, 0o644))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestFaultsShort: three cells of the fault matrix, in every `make test`:
// the model plugin killed while the readout adapts, the stimulus plugin
// killed while a repeated block is shown, and the host killed then, and
// resumed. The whole matrix: `go test -tags faults -run Faults ./tests`.
func TestFaultsShort(t *testing.T) {
	runFaultMatrix(t, []faultCell{
		{fault: "sigkill", plugin: "model", stage: "adapt"},
		{fault: "sigkill", plugin: "stimulus", stage: "present"},
		{fault: "host-sigkill", stage: "present"},
	}, false)
}
