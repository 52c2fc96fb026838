package onnxmodel_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

// requireORT initialises ONNX Runtime or fails the test with the one-line
// message that says how to install it.
func requireORT(t testing.TB) {
	t.Helper()
	require.NoError(t, onnxmodel.Init(""))
}

func infos(vs []onnxbuild.ValueInfo) []onnxmodel.TensorInfo {
	out := make([]onnxmodel.TensorInfo, len(vs))
	for i, v := range vs {
		out[i] = onnxmodel.TensorInfo{Name: v.Name, Type: v.Type, Shape: slices.Clone(v.Shape)}
	}
	return out
}

func find(vs []onnxbuild.ValueInfo, name string) int {
	return slices.IndexFunc(vs, func(v onnxbuild.ValueInfo) bool { return v.Name == name })
}

func drop(vs *[]onnxbuild.ValueInfo, name string) {
	*vs = slices.DeleteFunc(*vs, func(v onnxbuild.ValueInfo) bool { return v.Name == name })
}

type ioMod func(ins, outs *[]onnxbuild.ValueInfo)

func setShape(which, name string, shape ...int64) ioMod {
	return func(ins, outs *[]onnxbuild.ValueInfo) {
		vs := *ins
		if which == "out" {
			vs = *outs
		}
		vs[find(vs, name)].Shape = shape
	}
}

func setType(which, name string, typ onnxbuild.ElemType) ioMod {
	return func(ins, outs *[]onnxbuild.ValueInfo) {
		vs := *ins
		if which == "out" {
			vs = *outs
		}
		vs[find(vs, name)].Type = typ
	}
}

// useBehaviour replaces perspective and modulation with one behaviour input.
func useBehaviour(ins, _ *[]onnxbuild.ValueInfo) {
	drop(ins, "perspective")
	drop(ins, "modulation")
	*ins = append(*ins, onnxbuild.ValueInfo{Name: "behaviour", Type: onnxbuild.Float, Shape: []int64{1, 4}})
}

// addFeatures adds a core-features output of the given shape.
func addFeatures(shape ...int64) ioMod {
	return func(_, outs *[]onnxbuild.ValueInfo) {
		*outs = append(*outs, onnxbuild.ValueInfo{Name: "features", Type: onnxbuild.Float, Shape: shape})
	}
}

// batched gives every input and output a dynamic batch dimension.
func batched(ins, outs *[]onnxbuild.ValueInfo) {
	for _, vs := range []*[]onnxbuild.ValueInfo{ins, outs} {
		for i := range *vs {
			if len((*vs)[i].Shape) > 0 {
				(*vs)[i].Shape = slices.Clone((*vs)[i].Shape)
				(*vs)[i].Shape[0] = onnxbuild.Dynamic
			}
		}
	}
}

var contractViolations = []struct {
	name   string
	modify []ioMod
	want   []string // substrings of the error
}{
	{"missing responses", []ioMod{func(_, outs *[]onnxbuild.ValueInfo) { drop(outs, "responses") }},
		[]string{`output "responses": missing, expected float32 [1 N]`}},
	{"responses int64", []ioMod{setType("out", "responses", onnxbuild.Int64)},
		[]string{`output "responses": int64 [1 3], expected float32 [1 N]`}},
	{"responses rank 1", []ioMod{setShape("out", "responses", 3)},
		[]string{`output "responses": float32 [3], expected float32 [1 N]`}},
	{"frame rank 3", []ioMod{setShape("in", "frame", 1, 4, 6)},
		[]string{`input "frame": shape [1 4 6], expected [1 1 H W]`}},
	{"frame int64", []ioMod{setType("in", "frame", onnxbuild.Int64)},
		[]string{`input "frame": type int64, expected uint8 or float32`}},
	{"frame alone with a dynamic batch", []ioMod{setShape("in", "frame", onnxbuild.Dynamic, 1, 4, 6)},
		[]string{`input "perspective": float32 [1 2], expected float32 [? 2]`,
			`state input "in.h": shape [1 2], expected fixed dimensions > 0 with a dynamic batch dimension, as "frame" has`,
			`output "responses": float32 [1 3], expected float32 [? N]`}},
	{"batched but one state of batch 1", []ioMod{batched, setShape("in", "c_in", 1, 3, 1), setShape("out", "c_out", 1, 3, 1)},
		[]string{`state input "c_in": shape [1 3 1], expected fixed dimensions > 0 with a dynamic batch dimension`}},
	{"batched but features of batch 1", []ioMod{batched, addFeatures(1, 8, 2, 3)},
		[]string{`output "features": float32 [1 8 2 3], expected float32 [1 C h w] or [1 F] with fixed dimensions and a dynamic batch dimension`}},
	{"batched with a dynamic height", []ioMod{batched, setShape("in", "frame", onnxbuild.Dynamic, 1, onnxbuild.Dynamic, 6)},
		[]string{`input "frame": shape [? 1 ? 6], expected [1 1 H W] or [? 1 H W] with fixed H, W > 0`}},
	{"frame three channels", []ioMod{setShape("in", "frame", 1, 3, 4, 6)},
		[]string{`input "frame": shape [1 3 4 6]`}},
	{"missing perspective", []ioMod{func(ins, _ *[]onnxbuild.ValueInfo) { drop(ins, "perspective") }},
		[]string{`input "perspective": missing, expected float32 [1 2]`}},
	{"modulation too long", []ioMod{setShape("in", "modulation", 1, 3)},
		[]string{`input "modulation": float32 [1 3], expected float32 [1 2]`}},
	{"perspective double", []ioMod{setType("in", "perspective", onnxbuild.Double)},
		[]string{`input "perspective": double [1 2], expected float32 [1 2]`}},
	{"unpaired state input", []ioMod{func(ins, _ *[]onnxbuild.ValueInfo) {
		*ins = append(*ins, onnxbuild.ValueInfo{Name: "in.z", Type: onnxbuild.Float, Shape: []int64{1, 4}})
	}}, []string{`input "in.z": state input without its output, expected an output named "out.z"`}},
	{"unpaired after output removed", []ioMod{func(_, outs *[]onnxbuild.ValueInfo) { drop(outs, "c_out") }},
		[]string{`input "c_in": state input without its output, expected an output named "c_out"`}},
	{"unknown input", []ioMod{func(ins, _ *[]onnxbuild.ValueInfo) {
		*ins = append(*ins, onnxbuild.ValueInfo{Name: "hidden", Type: onnxbuild.Float, Shape: []int64{1, 4}})
	}}, []string{`input "hidden": not frame, perspective or modulation, and not named as state`}},
	{"state shape mismatch", []ioMod{setShape("out", "out.h", 1, 3)},
		[]string{`state output "out.h": shape [1 3], expected [1 2] like input "in.h"`}},
	{"state output type", []ioMod{setType("out", "c_out", onnxbuild.Int64)},
		[]string{`state output "c_out": type int64, expected float32 like input "c_in"`}},
	{"state input type", []ioMod{setType("in", "state_in_m", onnxbuild.Int32)},
		[]string{`state input "state_in_m": type int32, expected float32`}},
	{"state dynamic batch", []ioMod{setShape("in", "in.h", onnxbuild.Dynamic, 2), setShape("out", "out.h", onnxbuild.Dynamic, 2)},
		[]string{`state input "in.h": shape [? 2], expected fixed dimensions > 0 with batch 1`}},
	{"state batch 2", []ioMod{setShape("in", "in.h", 2, 2), setShape("out", "out.h", 2, 2)},
		[]string{`state input "in.h": shape [2 2]`}},
	{"behaviour besides perspective", []ioMod{func(ins, _ *[]onnxbuild.ValueInfo) {
		*ins = append(*ins, onnxbuild.ValueInfo{Name: "behaviour", Type: onnxbuild.Float, Shape: []int64{1, 4}})
	}}, []string{`input "behaviour": given with "perspective" or "modulation"`}},
	{"behaviour of three values", []ioMod{useBehaviour, setShape("in", "behaviour", 1, 3)},
		[]string{`input "behaviour": float32 [1 3], expected float32 [1 4]`}},
	{"features of rank 3", []ioMod{addFeatures(1, 2, 3)},
		[]string{`output "features": float32 [1 2 3], expected float32 [1 C h w] or [1 F]`}},
	{"every problem reported", []ioMod{
		setType("in", "frame", onnxbuild.Int64),
		setShape("out", "out.h", 1, 3),
		func(_, outs *[]onnxbuild.ValueInfo) { drop(outs, "responses") },
	}, []string{`input "frame": type int64`, `state output "out.h": shape [1 3]`, `output "responses": missing`}},
}

// TestContractViolations checks each violation twice: CheckContract on the
// declared inputs and outputs, and Inspect on a model built with them, which
// must report the same through ONNX Runtime.
func TestContractViolations(t *testing.T) {
	requireORT(t)
	for _, tc := range contractViolations {
		t.Run(tc.name, func(t *testing.T) {
			ins, outs := contractIO()
			for _, m := range tc.modify {
				m(&ins, &outs)
			}
			_, pureErr := onnxmodel.CheckContract(infos(ins), infos(outs))
			require.Error(t, pureErr)
			require.ErrorIs(t, pureErr, rig.ErrContract)
			for _, w := range tc.want {
				require.Contains(t, pureErr.Error(), w)
			}

			_, err := onnxmodel.Inspect(shellModel(t, ins, outs))
			require.Error(t, err)
			require.ErrorIs(t, err, rig.ErrContract)
			require.NotErrorIs(t, err, rig.ErrInvalid)
			require.Contains(t, err.Error(), pureErr.Error(), "onnx runtime must report what the model declares")
		})
	}
}

func TestContractAccepts(t *testing.T) {
	requireORT(t)
	baseState := []onnxmodel.StatePair{
		{Input: "in.h", Output: "out.h", Shape: []int64{1, 2}},
		{Input: "c_in", Output: "c_out", Shape: []int64{1, 3, 1}},
		{Input: "state_in_m", Output: "state_out_m", Shape: []int64{1}},
	}
	tests := []struct {
		name   string
		modify []ioMod
		want   onnxmodel.Contract
	}{
		{"uint8 frame, three conventions", nil,
			onnxmodel.Contract{Height: 4, Width: 6, Neurons: 3, State: baseState}},
		{"float frame", []ioMod{setType("in", "frame", onnxbuild.Float)},
			onnxmodel.Contract{FrameFloat: true, Height: 4, Width: 6, Neurons: 3, State: baseState}},
		{"extra outputs ignored", []ioMod{func(_, outs *[]onnxbuild.ValueInfo) {
			*outs = append(*outs, onnxbuild.ValueInfo{Name: "debug", Type: onnxbuild.Int64, Shape: []int64{2}})
		}}, onnxmodel.Contract{Height: 4, Width: 6, Neurons: 3, State: baseState, Ignored: []string{"debug"}}},
		{"stateless", []ioMod{func(ins, outs *[]onnxbuild.ValueInfo) {
			*ins = (*ins)[:3]
			*outs = (*outs)[:1]
		}}, onnxmodel.Contract{Height: 4, Width: 6, Neurons: 3}},
		{"foundation sizes", []ioMod{setShape("in", "frame", 1, 1, 144, 256), setShape("out", "responses", 1, 10000)},
			onnxmodel.Contract{Height: 144, Width: 256, Neurons: 10000, State: baseState}},
		{"one behaviour input", []ioMod{useBehaviour},
			onnxmodel.Contract{Height: 4, Width: 6, Neurons: 3, State: baseState, BehaviourInput: true}},
		{"core features", []ioMod{addFeatures(1, 8, 2, 3)},
			onnxmodel.Contract{Height: 4, Width: 6, Neurons: 3, State: baseState, Features: []int64{1, 8, 2, 3}}},
		{"batched: shapes reported with batch 1", []ioMod{addFeatures(1, 8, 2, 3), batched},
			onnxmodel.Contract{Batched: true, Height: 4, Width: 6, Neurons: 3, State: baseState, Features: []int64{1, 8, 2, 3}}},
		{"batched, one behaviour input", []ioMod{useBehaviour, batched},
			onnxmodel.Contract{Batched: true, Height: 4, Width: 6, Neurons: 3, State: baseState, BehaviourInput: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ins, outs := contractIO()
			for _, m := range tc.modify {
				m(&ins, &outs)
			}
			got, err := onnxmodel.CheckContract(infos(ins), infos(outs))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)

			got, err = onnxmodel.Inspect(shellModel(t, ins, outs))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCheckContractRejectsNonTensors(t *testing.T) {
	ins, outs := contractIO()
	ti, to := infos(ins), infos(outs)
	ti[3].NotTensor = true // in.h
	to[0].NotTensor = true // responses
	_, err := onnxmodel.CheckContract(ti, to)
	require.ErrorIs(t, err, rig.ErrContract)
	require.Contains(t, err.Error(), `input "in.h": not a tensor`)
	require.Contains(t, err.Error(), `output "responses": non-tensor`)
}

func TestCheckContractRejectsTwoInputsOnOneOutput(t *testing.T) {
	f := onnxbuild.Float
	ins, outs := contractIO()
	// "in.x_out" pairs with "out.x_out"; so does "out.x_in" (suffix rule).
	ins = append(ins, onnxbuild.ValueInfo{Name: "in.x_out", Type: f, Shape: []int64{1}},
		onnxbuild.ValueInfo{Name: "out.x_in", Type: f, Shape: []int64{1}})
	outs = append(outs, onnxbuild.ValueInfo{Name: "out.x_out", Type: f, Shape: []int64{1}})
	_, err := onnxmodel.CheckContract(infos(ins), infos(outs))
	require.ErrorIs(t, err, rig.ErrContract)
	require.Contains(t, err.Error(), `input "out.x_in": pairs with output "out.x_out", which already belongs to input "in.x_out"`)
}

func TestInspectRejectsNonModels(t *testing.T) {
	requireORT(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.onnx")
	require.NoError(t, os.WriteFile(text, []byte("this is not a model\n"), 0o644))
	tests := []struct {
		name string
		run  func() error
		want []string
	}{
		{"text file", func() error { _, err := onnxmodel.InspectFile(text); return err },
			[]string{`model file "` + text + `" is not a loadable ONNX model`}},
		{"missing file", func() error { _, err := onnxmodel.InspectFile(filepath.Join(dir, "none.onnx")); return err },
			[]string{`model file "` + filepath.Join(dir, "none.onnx") + `"`, "no such file"}},
		{"directory", func() error { _, err := onnxmodel.InspectFile(dir); return err },
			[]string{`model file "` + dir + `" is a directory`}},
		{"garbage bytes", func() error { _, err := onnxmodel.Inspect([]byte("garbage")); return err },
			[]string{"model (7 bytes) is not a loadable ONNX model"}},
		{"no bytes", func() error { _, err := onnxmodel.Inspect(nil); return err },
			[]string{"no bytes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.False(t, errors.Is(err, rig.ErrContract))
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}
