// Command acquisition is twinrig's simulated acquisition plugin: a
// simulated mouse (package sim) under a simulated two-photon microscope,
// served to the host over go-plugin. The host starts it; run by hand it
// explains that and exits. Settings are documented in package simacq.
package main

import (
	"log/slog"

	"github.com/twinrig/twinrig/plugins/acquisition/simacq"
	"github.com/twinrig/twinrig/rig"
)

func main() {
	log := rig.Logger(slog.LevelInfo)
	slog.SetDefault(log)
	rig.ServeAcquisition(simacq.New().WithLogger(log))
}
