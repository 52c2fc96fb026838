package main

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRealMainExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "no command", args: nil, code: exitUsage, stderr: "Usage:"},
		{name: "help", args: []string{"help"}, code: exitOK, stdout: "Usage:"},
		{name: "-h", args: []string{"-h"}, code: exitOK, stdout: "Exit status: 0 done"},
		{name: "version", args: []string{"version"}, code: exitOK, stdout: "twinrig dev (plugin protocol "},
		{name: "unknown command", args: []string{"frobnicate"}, code: exitUsage, stderr: `twinrig: unknown command "frobnicate"`},
		{name: "run without a config", args: []string{"run"}, code: exitUsage, stderr: "Usage: twinrig run [flags] CONFIG"},
		{name: "run with two configs", args: []string{"run", "a.yaml", "b.yaml"}, code: exitUsage, stderr: "Usage: twinrig run"},
		{name: "run -h", args: []string{"run", "-h"}, code: exitOK, stderr: "-restarts"},
		{name: "run with a bad flag", args: []string{"run", "-frobnicate", "a.yaml"}, code: exitUsage, stderr: "flag provided but not defined"},
		{name: "run with a bad log level", args: []string{"run", "-log-level", "loud", "a.yaml"}, code: exitUsage,
			stderr: `twinrig run: -log-level "loud": want debug, info, warn or error`},
		{name: "run with a missing config", args: []string{"run", "testdata-none/rig.yaml"}, code: exitUsage, stderr: "testdata-none/rig.yaml"},
		{name: "validate without a config", args: []string{"validate"}, code: exitUsage, stderr: "Usage: twinrig validate CONFIG"},
		{name: "validate with a missing config", args: []string{"validate", "testdata-none/rig.yaml"}, code: exitUsage, stderr: "testdata-none/rig.yaml"},
		{name: "control without a command", args: []string{"control", "rig.yaml"}, code: exitUsage, stderr: "Usage: twinrig control"},
		{name: "control -h", args: []string{"control", "-h"}, code: exitOK, stderr: "-timeout"},
		{name: "control with a missing config", args: []string{"control", "testdata-none/rig.yaml", "pause"}, code: exitUsage, stderr: "testdata-none/rig.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := realMain(tc.args, &stdout, &stderr)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			require.Contains(t, stdout.String(), tc.stdout)
			require.Contains(t, stderr.String(), tc.stderr)
		})
	}
}

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want slog.Level
		ok   bool
	}{
		{"debug", slog.LevelDebug, true},
		{"info", slog.LevelInfo, true},
		{"WARN", slog.LevelWarn, true},
		{"error", slog.LevelError, true},
		{"loud", 0, false},
		{"", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseLevel(tc.in)
			if !tc.ok {
				require.ErrorContains(t, err, "-log-level")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
