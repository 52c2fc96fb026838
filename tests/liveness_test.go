package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHungPluginIsKilledAndRestarted: a model plugin that stops answering
// mid-session (SIGSTOP: its process stays, its connection stays open, it
// answers nothing) is found by the host's heartbeat, named as hung, killed
// and restarted like a crashed one; the session continues from its
// record, runs every block once and finishes (ok, or degraded if the
// machine made the display drop frames). On the real clock the
// hang is detected within 2 s.
func TestHungPluginIsKilledAndRestarted(t *testing.T) {
	dir := t.TempDir()
	cfg := rigConfig{clock: "real", version2: true, blocks: fourBlocks}.write(t, dir)
	h := startHost(t, "run", "-await-subscriber", "30s", cfg)
	m := h.readUntil(t, brokerLine)
	msgs := subscribe(t, m[1], m[2]+"/#")
	h.readUntil(t, regexp.MustCompile(`block 2/4 b `))

	// The model plugin's pid, from the journal's launched entry.
	runs, err := filepath.Glob(filepath.Join(dir, "runs", "e2e-*"))
	require.NoError(t, err)
	require.Len(t, runs, 1)
	pid := 0
	for _, e := range journal(t, runs[0]) {
		if e["kind"] == "launched" && e["plugin"] == "model" && e["attempt"] == 0.0 {
			pid = int(e["pid"].(float64))
		}
	}
	require.NotZero(t, pid, "the journal names the model plugin's pid")
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	stopped := time.Now()
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // if the host did not

	// The host kills the stopped process: detection plus the kill.
	gone := make(chan time.Duration, 1)
	go func() {
		for time.Since(stopped) < 30*time.Second {
			stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
			if err != nil || strings.Contains(string(stat), ") Z ") {
				gone <- time.Since(stopped)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		gone <- -1
	}()

	code := h.wait(t)
	out, stderr := strings.Join(h.lines, "\n"), h.stderr.String()
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	killedAfter := <-gone
	require.Positive(t, killedAfter, "the stopped model plugin was killed")
	t.Logf("model plugin SIGSTOPped: killed by the host %v later", killedAfter.Round(time.Millisecond))
	require.Less(t, killedAfter, 2*time.Second, "a hung plugin is detected and killed within 2 s on the real clock")

	// The log names the plugin, its binary, and how long it was silent.
	logged := regexp.MustCompile(`msg="plugin hung; killing it" kind=model path=(\S+) pid=(\d+) silent=(\S+) reason="hung: no answer for (\d+\.\d)s"`).FindStringSubmatch(stderr)
	require.NotNil(t, logged, "stderr:\n%s", stderr)
	require.Equal(t, filepath.Join(bin, "twinrig-model"), logged[1])
	require.Equal(t, strconv.Itoa(pid), logged[2])
	silent, err := time.ParseDuration(logged[3])
	require.NoError(t, err)
	t.Logf("the host logged the model plugin silent for %v", silent)
	require.Less(t, silent, 2*time.Second)
	require.Contains(t, stderr, `model plugin "`+filepath.Join(bin, "twinrig-model")+`" hung: no answer for `)
	require.Contains(t, out, "restarting the plugins and resuming session")
	requireNoPlugins(t)

	// The error event (MQTT and journal) names the model as hung.
	var errEvents []map[string]any
	for _, msg := range msgs() {
		if msg.payload["kind"] == "error" {
			errEvents = append(errEvents, msg.payload)
		}
	}
	require.Len(t, errEvents, 1, "one error event")
	require.Equal(t, "model", errEvents[0]["plugin"])
	require.Contains(t, errEvents[0]["message"], "hung: no answer for")

	entries := journal(t, runs[0])
	var journaled []string
	var attempts []any
	status := ""
	for _, e := range entries {
		switch e["kind"] {
		case "error":
			require.Equal(t, "model", e["plugin"])
			journaled = append(journaled, e["message"].(string))
		case "launched":
			if e["plugin"] == "model" {
				attempts = append(attempts, e["attempt"])
			}
		case "finished":
			status, _ = e["status"].(string)
		}
	}
	require.Len(t, journaled, 1)
	require.Regexp(t, `^model plugin ".*twinrig-model" hung: no answer for \d\.\ds; killed it: plugin unavailable`, journaled[0])
	require.Equal(t, []any{0.0, 1.0}, attempts, "one restart")
	// ok, or degraded when the loaded machine made the display drop
	// frames (the record says so); never failed.
	require.Contains(t, []string{"ok", "degraded"}, status)
	require.Equal(t, []string{"a", "b", "c", "d"}, stagesDone(entries), "every block once")
}
