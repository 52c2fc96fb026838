package onnxmodel_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/defaultmodel"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

func TestMeasureStateTransfer(t *testing.T) {
	r := newDefault(t, 5)
	c := r.Contract()
	state := int64(4 * defaultmodel.Filters * defaultmodel.MapHeight * defaultmodel.MapWidth)
	features := int64(4 * defaultmodel.Channels * defaultmodel.MapHeight * defaultmodel.MapWidth)

	st, err := onnxmodel.MeasureStateTransfer(c, onnxmodel.Options{Threads: 1}, 5)
	require.NoError(t, err)
	require.Equal(t, onnxmodel.DeviceCPU, st.Device)
	require.Equal(t, state, st.StateBytes)
	require.Equal(t, 2*state, st.Bytes)
	require.Equal(t, int64(144*256+16+4*5)+features, st.IOBytes)
	require.Positive(t, st.MsPerStep)
	require.Positive(t, st.GBPerSecond())

	// Where CUDA cannot be used the probe falls back as New does.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err = onnxmodel.MeasureStateTransfer(c, onnxmodel.Options{Device: onnxmodel.DeviceCUDA, Threads: 1, Logger: quiet}, 1)
	require.NoError(t, err)
	lib, err := onnxmodel.LocateLibrary("")
	require.NoError(t, err)
	if onnxmodel.CheckCUDA(lib) != nil {
		require.Equal(t, onnxmodel.DeviceCPU, st.Device)
	}

	_, err = onnxmodel.MeasureStateTransfer(onnxmodel.Contract{}, onnxmodel.Options{}, 1)
	require.ErrorIs(t, err, rig.ErrInvalid)
	_, err = onnxmodel.MeasureStateTransfer(c, onnxmodel.Options{}, 0)
	require.ErrorIs(t, err, rig.ErrInvalid)
}
