package onnxmodel_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
)

// shellModel builds a model with the given inputs and outputs whose
// arithmetic is easy to predict: every input is summed to one scalar t, and
// every output is t broadcast to its shape (and cast to its type). Dynamic
// output dimensions come out as 1, except a dynamic first (batch)
// dimension, which takes the batch of the first input that has one.
func shellModel(t testing.TB, inputs, outputs []onnxbuild.ValueInfo) []byte {
	t.Helper()
	g := onnxbuild.Graph{Name: "shell", Inputs: inputs, Outputs: outputs}
	total := ""
	for i, in := range inputs {
		f := fmt.Sprintf("in%d.f", i)
		s := fmt.Sprintf("in%d.sum", i)
		g.Add("Cast", []string{in.Name}, []string{f}, onnxbuild.AttrInt("to", int64(onnxbuild.Float)))
		g.Add("ReduceSum", []string{f}, []string{s}, onnxbuild.AttrInt("keepdims", 0))
		if total == "" {
			total = s
			continue
		}
		next := fmt.Sprintf("total%d", i)
		g.Add("Add", []string{total, s}, []string{next})
		total = next
	}
	for i, out := range outputs {
		dims := make([]int64, len(out.Shape))
		n := 1
		for j, d := range out.Shape {
			dims[j] = max(d, 1)
			n *= int(dims[j])
		}
		zeros := fmt.Sprintf("out%d.zeros", i)
		g.Initializers = append(g.Initializers, onnxbuild.FloatTensor(zeros, dims, make([]float32, n)))
		sum := fmt.Sprintf("out%d.f", i)
		g.Add("Add", []string{zeros, total}, []string{sum})
		if batch := dynamicBatch(inputs); len(out.Shape) > 0 && out.Shape[0] == onnxbuild.Dynamic && batch != "" {
			b, rest, shape, expanded := fmt.Sprintf("out%d.b", i), fmt.Sprintf("out%d.rest", i), fmt.Sprintf("out%d.shape", i), fmt.Sprintf("out%d.x", i)
			g.Add("Shape", []string{batch}, []string{b}, onnxbuild.AttrInt("start", 0), onnxbuild.AttrInt("end", 1))
			g.Initializers = append(g.Initializers, onnxbuild.Int64Tensor(rest, []int64{int64(len(dims) - 1)}, dims[1:]))
			g.Add("Concat", []string{b, rest}, []string{shape}, onnxbuild.AttrInt("axis", 0))
			g.Add("Expand", []string{sum, shape}, []string{expanded})
			sum = expanded
		}
		g.Add("Cast", []string{sum}, []string{out.Name}, onnxbuild.AttrInt("to", int64(out.Type)))
	}
	m := onnxbuild.Model{ProducerName: "onnxmodel test", Graph: g}
	b, err := m.Marshal()
	require.NoError(t, err)
	return b
}

// dynamicBatch returns the first input with a dynamic first dimension, or "".
func dynamicBatch(inputs []onnxbuild.ValueInfo) string {
	for _, in := range inputs {
		if len(in.Shape) > 0 && in.Shape[0] == onnxbuild.Dynamic {
			return in.Name
		}
	}
	return ""
}

// contractIO returns a small contract-fitting set of inputs and outputs:
// a uint8 4 x 6 frame, 3 neurons and one state pair per naming convention.
func contractIO() (inputs, outputs []onnxbuild.ValueInfo) {
	f := onnxbuild.Float
	inputs = []onnxbuild.ValueInfo{
		{Name: "frame", Type: onnxbuild.Uint8, Shape: []int64{1, 1, 4, 6}},
		{Name: "perspective", Type: f, Shape: []int64{1, 2}},
		{Name: "modulation", Type: f, Shape: []int64{1, 2}},
		{Name: "in.h", Type: f, Shape: []int64{1, 2}},
		{Name: "c_in", Type: f, Shape: []int64{1, 3, 1}},
		{Name: "state_in_m", Type: f, Shape: []int64{1}},
	}
	outputs = []onnxbuild.ValueInfo{
		{Name: "responses", Type: f, Shape: []int64{1, 3}},
		{Name: "state_out_m", Type: f, Shape: []int64{1}},
		{Name: "out.h", Type: f, Shape: []int64{1, 2}},
		{Name: "c_out", Type: f, Shape: []int64{1, 3, 1}},
	}
	return inputs, outputs
}
