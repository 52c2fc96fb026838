package main

import (
	"fmt"
	"io"

	"github.com/twinrig/twinrig/host/record"
)

// checkCommand is `twinrig check SESSION_DIR`: it verifies the invariants
// of a session's record (record.Check) and prints every violation, one a
// line (file:line: what); exit status 1 if there is any, 0 and one line
// with the record's counts otherwise, 2 when the directory is not a
// session record.
func checkCommand(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("check", "check SESSION_DIR", stderr)
	dir, code := parseArgs(fs, args)
	if code >= 0 {
		return code
	}
	tally, violations, err := record.Check(dir)
	if err != nil {
		fmt.Fprintf(stderr, "twinrig check: %v\n", err)
		return exitUsage
	}
	for _, v := range violations {
		fmt.Fprintln(stdout, v)
	}
	if len(violations) > 0 {
		fmt.Fprintf(stderr, "twinrig check: %s: %d violations\n", dir, len(violations))
		return exitFailed
	}
	fmt.Fprintf(stdout, "ok: %d frames, %d scans, %d predictions over %d attempts\n",
		tally.Frames, tally.Scans, tally.Predictions, len(tally.Attempts))
	return exitOK
}
