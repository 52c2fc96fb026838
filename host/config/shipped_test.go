package config_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/config"
	"github.com/twinrig/twinrig/protocols"
)

// TestShippedConfigs: every config in configs/ loads, and its protocol
// loads too (what `make run` and `make run-fnn` start from).
func TestShippedConfigs(t *testing.T) {
	paths, err := filepath.Glob("../../configs/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(paths), 2)
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			c, err := config.Load(p)
			require.NoError(t, err)
			_, err = protocols.LoadExperiment(c.Session.Protocol)
			require.NoError(t, err, "protocol of %s", p)
		})
	}
}
