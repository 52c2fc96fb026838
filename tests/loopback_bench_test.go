package tests

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/modelplugin"
	"github.com/twinrig/twinrig/rig"
)

func BenchmarkModelStepLoopback(b *testing.B) {
	m := modelplugin.New()
	defer m.Close()
	c, closeFn, err := rig.LoopbackModel(m)
	require.NoError(b, err)
	defer closeFn()
	benchSteps(b, c.(rig.Model), 10)
}
