// Command model is twinrig's model plugin. The host starts it; it serves
// modelplugin.Model over go-plugin and logs to stderr. Started by hand it
// explains that and exits.
//
// It needs the ONNX Runtime 1.29 shared library: see onnxmodel.LocateLibrary
// for where it is looked for (`make setup` installs it).
package main

import (
	"log/slog"

	"github.com/twinrig/twinrig/plugins/model/modelplugin"
	"github.com/twinrig/twinrig/rig"
)

func main() {
	slog.SetDefault(rig.Logger(slog.LevelInfo))
	m := modelplugin.New()
	defer m.Close()
	rig.ServeModel(m)
}
