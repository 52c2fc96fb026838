package batchmodel_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel/batchmodel"
)

func TestBuildFitsTheContract(t *testing.T) {
	require.NoError(t, onnxmodel.Init(""))
	for _, batch1 := range []bool{false, true} {
		b, err := batchmodel.Build(batchmodel.Options{Batch1: batch1})
		require.NoError(t, err)
		c, err := onnxmodel.Inspect(b)
		require.NoError(t, err)
		require.Equal(t, !batch1, c.Batched)
		require.Equal(t, []int{256, 144, 100}, []int{c.Width, c.Height, c.Neurons})
		require.Equal(t, []int64{1, 8, 18, 32}, c.Features)
		require.Equal(t, 8*18*32, c.StateFloats())
	}
	_, err := batchmodel.Build(batchmodel.Options{Width: 30, Pool: 8})
	require.Error(t, err, "a frame that is not a multiple of the pool")
}
