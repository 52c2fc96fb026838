package onnxmodel_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

// FuzzInspect feeds corrupt and random model bytes through ONNX Runtime's
// loader and the contract check: each must give a contract or an error
// wrapping rig.ErrInvalid or rig.ErrContract, never a crash.
func FuzzInspect(f *testing.F) {
	requireORT(f)
	ins, outs := contractIO()
	good := shellModel(f, ins, outs)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("garbage"))
	f.Add([]byte{})
	f.Add([]byte{8, 8, 0x3a, 0})           // ir_version, empty graph
	f.Add([]byte{8, 8, 0x42, 2, 0x10, 17}) // opset only
	ins[0].Shape = []int64{onnxbuild.Dynamic, 1, 4, 6}
	f.Add(shellModel(f, ins, outs))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := onnxmodel.Inspect(data)
		if err != nil {
			require.True(t, errors.Is(err, rig.ErrInvalid) || errors.Is(err, rig.ErrContract), "unexpected error kind: %v", err)
			return
		}
		require.Positive(t, c.Neurons)
		require.Positive(t, c.Height)
		require.Positive(t, c.Width)
	})
}

// FuzzCheckContract checks random input and output lists: the checker must
// not panic, every error must wrap rig.ErrContract, and an accepted
// contract must be self-consistent.
func FuzzCheckContract(f *testing.F) {
	f.Add([]byte{0, 2, 4, 1, 1, 4, 6, 1, 1, 2, 1, 2, 2, 1, 2, 1, 2, 3, 1, 2, 1, 3}, []byte{4, 1, 2, 1, 3, 5, 1, 2, 1, 3})
	f.Add([]byte{}, []byte{})
	f.Add([]byte{3, 1, 0, 255}, []byte{5, 7, 1, 1})
	names := []string{"frame", "perspective", "modulation", "in.h", "c_in", "state_in_m", "x", "in.", "_in"}
	outNames := []string{"responses", "out.h", "c_out", "state_out_m", "out.", "_out", "y"}
	types := []onnxbuild.ElemType{onnxbuild.Float, onnxbuild.Uint8, onnxbuild.Int64, onnxbuild.Double}
	decode := func(data []byte, names []string) []onnxmodel.TensorInfo {
		var out []onnxmodel.TensorInfo
		for len(data) >= 3 {
			info := onnxmodel.TensorInfo{
				Name:      names[int(data[0])%len(names)],
				NotTensor: data[0] >= 200,
				Type:      types[int(data[1])%len(types)],
			}
			rank := int(data[2]) % 5
			data = data[3:]
			for i := 0; i < rank && len(data) > 0; i++ {
				info.Shape = append(info.Shape, int64(int8(data[0])))
				data = data[1:]
			}
			out = append(out, info)
		}
		return out
	}
	f.Fuzz(func(t *testing.T, inData, outData []byte) {
		c, err := onnxmodel.CheckContract(decode(inData, names), decode(outData, outNames))
		if err != nil {
			require.ErrorIs(t, err, rig.ErrContract)
			require.Equal(t, onnxmodel.Contract{}, c)
			return
		}
		require.Positive(t, c.Neurons)
		require.Positive(t, c.Height)
		require.Positive(t, c.Width)
		outputs := map[string]bool{}
		for _, s := range c.State {
			require.False(t, outputs[s.Output], "output %q paired twice", s.Output)
			outputs[s.Output] = true
			require.Equal(t, int64(1), s.Shape[0])
			for _, d := range s.Shape {
				require.Positive(t, d)
			}
		}
		require.Positive(t, c.StateFloats()+1)
	})
}
