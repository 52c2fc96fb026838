package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// problemLine is the shape every reported problem must have.
var problemLine = regexp.MustCompile(`^fuzz\.yaml:[1-9][0-9]*:[1-9][0-9]*: `)

// FuzzParse checks that Parse never panics, that every failure is a list of
// located problems matching ErrInvalid, and that every success is a config
// that keeps the documented invariants.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yaml")
	require.NoError(f, err)
	bad, err := filepath.Glob("testdata/bad/*.yaml")
	require.NoError(f, err)
	for _, path := range append(seeds, bad...) {
		data, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("rig: r\nsession: {protocol: protocols/skeleton.yaml}\nplugins: {stimulus: &p {path: bin/twinrig-model}, acquisition: *p, model: {<<: *p}}\n"))
	dir := newRig(f)

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, dir)
		if err != nil {
			require.Nil(t, c)
			require.ErrorIs(t, err, ErrInvalid)
			problems := Problems(err)
			require.NotEmpty(t, problems)
			lines := strings.Split(err.Error(), "\n")
			require.Len(t, lines, len(problems), "one line per problem: %q", err.Error())
			for _, line := range lines {
				require.Regexp(t, problemLine, line)
			}
			return
		}
		require.Regexp(t, namePattern, c.Rig)
		require.Regexp(t, namePattern, c.Session.Name)
		require.Contains(t, []rig.Clock{rig.VirtualClock, rig.RealClock}, c.Session.Clock)
		require.FileExists(t, c.Session.Protocol)
		for _, p := range []PluginConfig{c.Stimulus, c.Acquisition, c.Model} {
			require.FileExists(t, p.Path)
			require.Positive(t, p.StartTimeout)
			var settings map[string]any
			require.NoError(t, json.Unmarshal(p.Settings, &settings), "settings %s", p.Settings)
			require.NotNil(t, settings)
		}
		require.LessOrEqual(t, c.MQTT.QoS, byte(2))
		require.Equal(t, c.MQTT.Embedded(), c.MQTT.Listen != "")
		require.False(t, errors.Is(err, ErrInvalid))
	})
}
