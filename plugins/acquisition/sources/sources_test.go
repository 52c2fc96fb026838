package sources_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/sources"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
)

func TestConformanceDefaultsToTheSimulatedMouse(t *testing.T) {
	rigtest.Acquisition(t, sources.New(nil), rigtest.WithSettings(json.RawMessage(`{"neurons": 5}`)))
}

func TestSourceSetting(t *testing.T) {
	ctx := context.Background()
	s := sources.New(nil)
	_, err := s.Describe(ctx, rig.DescribeRequest{})
	require.ErrorIs(t, err, rig.ErrState, "before Configure")

	_, err = s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"source": "sim", "neurons": 7}`)})
	require.NoError(t, err)
	info, err := s.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, 7, info.Neurons)
	require.True(t, info.Simulated)

	_, err = s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"source": "camera"}`)})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, `field "source": "camera", want one of sim, movie`)

	_, err = s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"source": "movie"}`)})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, `field "path": missing`, "the movie source checks its own settings")
	info, err = s.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, 7, info.Neurons, "a failed Configure keeps the previous source")

	_, err = s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`[1]`)})
	require.ErrorIs(t, err, rig.ErrInvalid)
}
