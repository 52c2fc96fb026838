package stimuli

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/protocols"
)

func TestShippedStimulusProtocols(t *testing.T) {
	for _, f := range []string{"../../../protocols/stimuli-ood.yaml", "../../../protocols/stimuli-natural.yaml", "../../../protocols/gratings.yaml"} {
		p, err := protocols.Load(f)
		require.NoError(t, err)
		for _, b := range p.Blocks {
			_, err := New(b.Stimulus, 256, 144, 30)
			require.NoError(t, err, "%s block %s", f, b.Name)
		}
	}
}
