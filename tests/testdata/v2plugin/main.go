// Command v2plugin is a test plugin that speaks a future version of the
// twinrig plugin protocol; the host must refuse it with a clear message.
package main

import (
	"github.com/hashicorp/go-plugin"

	"github.com/twinrig/twinrig/rig"
)

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  rig.ProtocolVersion + 1,
			MagicCookieKey:   rig.MagicCookieKey,
			MagicCookieValue: rig.MagicCookieValue,
		},
		Plugins: plugin.PluginSet{},
	})
}
