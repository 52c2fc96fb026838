//go:build faults

package tests

import "testing"

// TestFaults: the whole fault matrix (issue 12), opt-in:
//
//	go test -tags faults -count=1 -run Faults -v ./tests
//
// Each cell runs the loop of faultBlocks on the virtual clock with the real
// plugin binaries and injects one fault: SIGKILL of each plugin during each
// stage kind; SIGSTOP of each plugin during a present and an adapt stage
// (found hung by the heartbeat, about 10 s of silence on the virtual
// clock); SIGKILL of the host during a present stage, then -resume; a
// corrupt journal line in the middle, refused by -resume naming the line
// (then repaired and resumed); a full disk (a small tmpfs, root only),
// stopped cleanly with a whole journal and resumed once space is freed.
// Each cell that finishes checks its record (runFaultCell) and the test
// logs a table of every cell's outcome at the end.
func TestFaults(t *testing.T) {
	var cells []faultCell
	for _, stage := range []string{"present", "adapt", "select", "verify"} {
		for _, plugin := range []string{"stimulus", "acquisition", "model"} {
			cells = append(cells, faultCell{fault: "sigkill", plugin: plugin, stage: stage})
		}
	}
	for _, stage := range []string{"present", "adapt"} {
		for _, plugin := range []string{"stimulus", "acquisition", "model"} {
			cells = append(cells, faultCell{fault: "sigstop", plugin: plugin, stage: stage})
		}
	}
	cells = append(cells,
		faultCell{fault: "host-sigkill", stage: "present"},
		faultCell{fault: "corrupt-journal", stage: "present"},
		faultCell{fault: "full-disk", stage: "present"},
	)
	runFaultMatrix(t, cells, true)
}
