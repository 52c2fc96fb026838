package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/protocols"
)

func TestEveryBlockKindHasAStage(t *testing.T) {
	for _, k := range []protocols.Kind{protocols.KindPresent, protocols.KindAdapt, protocols.KindSelect, protocols.KindVerify} {
		newStage, ok := stageKinds[k]
		require.True(t, ok, "kind %s", k)
		require.NotNil(t, newStage(0, &protocols.Stage{Kind: k, Name: "b"}))
	}
	require.Len(t, stageKinds, 4)
}
