package stimuli

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/protocols"
)

func TestShippedStimulusProtocols(t *testing.T) {
	for _, f := range []string{"../../../protocols/stimuli-ood.yaml", "../../../protocols/stimuli-natural.yaml", "../../../protocols/gratings.yaml"} {
		e, err := protocols.LoadExperiment(f)
		require.NoError(t, err)
		for _, s := range e.Stimuli() {
			_, err := New(s.Spec, 256, 144, 30)
			require.NoError(t, err, "%s stimulus %s", f, s.Spec)
		}
	}
}
