// Command twinrig is the twinrig host: it launches the stimulus,
// acquisition and model plugins named in a rig config, runs a session from
// a protocol file, publishes session events over MQTT and records the data.
//
// This package wires the pieces together: it parses the command line,
// loads the config and the protocol, and connects the plugin supervisor
// (package host/supervise: launch, watch, kill, restart), the session
// (host/session), the MEI selector (host/selection), the event publisher
// (host/events) and the recording (host/record).
//
// Usage:
//
//	twinrig run [flags] CONFIG       run a session
//	twinrig validate CONFIG          check a config and its protocol
//	twinrig control CONFIG COMMAND   pause, resume or abort a running session
//	twinrig check SESSION_DIR        verify a session's record
//	twinrig version                  print the version and plugin protocol
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/twinrig/twinrig/rig"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitAborted     = 3
	exitInterrupted = 130
)

const usage = `twinrig runs closed-loop two-photon experiments with a foundation model of
visual cortex: it launches the stimulus, acquisition and model plugins named in
a rig config, runs the session a protocol describes, publishes events over MQTT
and records everything under the session's output directory.

Usage:
  twinrig run [flags] CONFIG       run a session (Ctrl-C stops it cleanly)
  twinrig validate CONFIG          check a config and its protocol, report every problem
  twinrig control CONFIG COMMAND   pause, resume or abort the session running on that rig
  twinrig check SESSION_DIR        verify a session's record (runs/<session>), print every violation
  twinrig version                  print the version and the plugin protocol version
  twinrig help                     this text

Run "twinrig run -h" for the run flags. The simulated rig: configs/simulated.yaml.
Exit status: 0 done (status ok, or degraded: it lagged on the real clock, the
record says what lagged and by how much), 1 the session failed, 2 bad usage or
config, 3 aborted by the operator (twinrig control, or the MQTT control topic),
130 interrupted.
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], stdout, stderr)
	case "validate":
		return validateCommand(args[1:], stdout, stderr)
	case "control":
		return controlCommand(args[1:], stdout, stderr)
	case "check":
		return checkCommand(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "twinrig %s (plugin protocol %d)\n", version, rig.ProtocolVersion)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "twinrig: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// parseLevel maps a -log-level value to a slog level.
func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("-log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// flagSet returns a FlagSet that prints its usage to stderr and returns
// errors rather than exiting.
func flagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: twinrig %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags and the single CONFIG argument.
func parseArgs(fs *flag.FlagSet, args []string) (string, int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", exitOK
		}
		return "", exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return "", exitUsage
	}
	return fs.Arg(0), -1
}
