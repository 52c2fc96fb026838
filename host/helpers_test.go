package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/events"
)

// writeRig writes a rig config into a new directory, with stub plugin
// binaries (that are no plugins, see supervise.InProcess) and the shipped
// gratings protocol, and returns its path.
func writeRig(t *testing.T) string {
	t.Helper()
	protocol, err := filepath.Abs(filepath.Join("..", "protocols", "gratings.yaml"))
	require.NoError(t, err)
	return writeRigWith(t, protocol)
}

// writeRigWith is writeRig with the protocol file given.
func writeRigWith(t *testing.T, protocol string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"stim", "acq", "model"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nexit 1\n"), 0o755))
	}
	cfg := fmt.Sprintf(`rig: test-rig
session:
  name: unit
  protocol: %q
  output: runs
plugins:
  stimulus:
    path: stim
  acquisition:
    path: acq
  model:
    path: model
`, protocol)
	path := filepath.Join(dir, "rig.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// recorder is a session.Emitter that keeps what it is given.
type recorder struct {
	mu  sync.Mutex
	got []events.Payload
}

func (r *recorder) Emit(_ context.Context, p events.Payload) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, p)
	return nil
}

// payloads returns what was emitted.
func (r *recorder) payloads() []events.Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Payload(nil), r.got...)
}
