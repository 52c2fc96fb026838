// Command twinrig-stimulus is twinrig's stimulus plugin: it renders the
// stimulus families of package stimuli and presents them headless (on the
// virtual or the real clock) or in a window or full screen with Ebiten,
// reporting every frame shown. The host starts it; run by hand it explains
// itself and exits.
//
// Settings (all optional) are described by present.Settings: "display"
// ("auto", "window", "fullscreen", "headless"), "monitor", "width",
// "height", "refresh_hz" (headless default 30, the model's rate; on a
// screen the monitor's nominal rate, default 60, since Ebiten cannot query
// it), "gamma_lut" and "photodiode".
//
// The go-plugin server runs on a second goroutine, because Ebiten must own
// the main thread once a window opens; the process ends when the host
// disconnects.
package main

import (
	"log/slog"

	"github.com/twinrig/twinrig/plugins/stimulus/present"
	"github.com/twinrig/twinrig/plugins/stimulus/screen"
	"github.com/twinrig/twinrig/rig"
)

func main() {
	log := rig.Logger(slog.LevelInfo)
	scr, impl := newPlugin(log)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rig.ServeStimulus(impl)
	}()
	// Ebiten locks the main goroutine to the main thread at init; Run keeps
	// it there and runs the window, if one is asked for, until done.
	if err := scr.Run(done); err != nil {
		log.Error("stimulus screen", "error", err)
	}
}

// newPlugin wires the plugin: a Stimulus that shows frames on an Ebiten
// screen when its settings ask for one.
func newPlugin(log *slog.Logger) (*screen.Screen, *present.Stimulus) {
	scr := screen.New(log)
	return scr, present.NewStimulus(present.Options{Screen: scr, Logger: log})
}
