package main

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/twinrig/twinrig/rig/rigtest"
)

// TestPluginHeadless checks the plugin as the binary wires it, headless:
// no window is asked for, so no Ebiten loop needs to run.
func TestPluginHeadless(t *testing.T) {
	_, impl := newPlugin(slog.New(slog.DiscardHandler))
	rigtest.Stimulus(t, impl, rigtest.WithSettings(json.RawMessage(`{"display":"headless"}`)))
}
