package config_test

import (
	"fmt"

	"github.com/twinrig/twinrig/host/config"
)

// Parse reports every problem of a config at once, each with its line,
// column and field.
func ExampleParse() {
	data := []byte(`rig: rig-1
session:
  clock: fast
  protocol: protocols/skeleton.yaml
plugins:
  stimulus: {path: /nonexistent/twinrig-stimulus, start_timeout: 10}
  acquisition: {path: /nonexistent/twinrig-acquisition}
  model: {settings: {neurons: 100}}
mqtt:
  qos: 3
`)
	_, err := config.Parse("rig.yaml", data, "/nonexistent")
	for _, p := range config.Problems(err) {
		fmt.Println(p)
	}
	// Output:
	// rig.yaml:3:10: session.clock: "fast" is not one of virtual, real
	// rig.yaml:4:13: session.protocol: "/nonexistent/protocols/skeleton.yaml" does not exist
	// rig.yaml:6:20: plugins.stimulus.path: "/nonexistent/twinrig-stimulus" does not exist
	// rig.yaml:6:66: plugins.stimulus.start_timeout: got the number 10; expected a duration such as 10s
	// rig.yaml:7:23: plugins.acquisition.path: "/nonexistent/twinrig-acquisition" does not exist
	// rig.yaml:8:3: plugins.model.path: missing: a plugin binary path is required
	// rig.yaml:10:8: mqtt.qos: got the number 3; expected 0, 1 or 2
}
