// Command acquisition is twinrig's acquisition plugin, served to the host
// over go-plugin. Its "source" setting picks the data: "sim" (default), a
// simulated mouse (package sim) under a simulated two-photon microscope
// (settings in package simacq), or "movie", a recorded two-photon movie
// processed online (settings in package movieacq). The host starts it; run
// by hand it explains that and exits.
package main

import (
	"log/slog"

	"github.com/twinrig/twinrig/plugins/acquisition/sources"
	"github.com/twinrig/twinrig/rig"
)

func main() {
	log := rig.Logger(slog.LevelInfo)
	slog.SetDefault(log)
	rig.ServeAcquisition(sources.New(log))
}
