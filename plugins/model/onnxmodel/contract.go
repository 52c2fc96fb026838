package onnxmodel

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
	"github.com/twinrig/twinrig/rig"
)

// Names of the tensors the foundation-model contract fixes.
const (
	InputFrame       = "frame"
	InputPerspective = "perspective"
	InputModulation  = "modulation"
	// InputBehaviour is the single-tensor alternative to perspective and
	// modulation: float32 [1, 4] = pupil x, pupil y, pupil radius,
	// treadmill velocity.
	InputBehaviour  = "behaviour"
	OutputResponses = "responses"
	// OutputFeatures is the optional core feature map the readout reads:
	// float32 [1, C, h, w] (or [1, F]). Adapting the model to a new mouse
	// fits a readout on it.
	OutputFeatures = "features"
)

// TensorInfo describes one graph input or output as ONNX Runtime reports it.
type TensorInfo struct {
	Name string
	// NotTensor is true for values that are not tensors (sequences, maps,
	// optionals); such values never fit the contract.
	NotTensor bool
	// Type is the element type, numbered as ONNX's TensorProto.DataType.
	Type onnxbuild.ElemType
	// Shape holds the dimensions; -1 marks a dimension without a fixed size.
	Shape []int64
}

// StatePair is one recurrent state tensor: the model reads it from Input and
// writes its next value to Output. Both have Shape and element type float32.
// Shape's first (batch) dimension is 1, also for a batched model.
type StatePair struct {
	Input, Output string
	Shape         []int64
}

// Contract is what a model that fits the twinrig foundation-model contract
// looks like from outside:
//
//   - input "frame": uint8 or float32, shape [1, 1, Height, Width];
//   - inputs "perspective" (pupil x, y) and "modulation" (pupil radius,
//     treadmill velocity): float32 [1, 2]; or instead one input
//     "behaviour": float32 [1, 4] in that order;
//   - output "responses": float32 [1, Neurons], strictly positive;
//   - optional output "features": float32 [1, C, h, w] or [1, F], the core
//     features the readout reads;
//   - every other input is recurrent state, float32 with a fixed shape whose
//     first (batch) dimension is 1, paired with an output of the same shape
//     and type by one of the naming conventions in.X/out.X, X_in/X_out or
//     state_in_X/state_out_X.
//
// The first dimension of every one of these tensors is the batch. It is
// either 1 on all of them, or dynamic (a dim_param, onnxbuild.Dynamic) on
// all of them: a batched model, which BatchRunner runs many rows at a time.
// All other dimensions must be fixed. Outputs that are neither "responses"
// nor a state output are allowed and never fetched (Ignored).
type Contract struct {
	// Batched is true when every input and output has a dynamic batch
	// dimension; shapes in the Contract then give it as 1.
	Batched bool
	// FrameFloat is true when "frame" is float32 rather than uint8. A float
	// frame receives the pixel values 0..255 unscaled: the model scales them
	// itself, as the uint8 export does.
	FrameFloat    bool
	Height, Width int
	Neurons       int
	// BehaviourInput is true when the model takes one "behaviour" [1, 4]
	// input instead of "perspective" and "modulation".
	BehaviourInput bool
	// Features is the shape of the "features" output (batch 1), nil when
	// absent.
	Features []int64
	// Metadata holds what the model's metadata properties say (see
	// ParseMetadata); zero when it has none.
	Metadata Metadata
	// State lists the state pairs in the model's input order.
	State []StatePair
	// Ignored lists extra outputs, in the model's order.
	Ignored []string
}

// StateFloats returns how many float32 values one set of state holds.
func (c Contract) StateFloats() int {
	n := 0
	for _, s := range c.State {
		n += int(product(s.Shape))
	}
	return n
}

// CheckContract checks a model's inputs and outputs against the contract
// and returns its description. Every violation is reported, joined into one
// error; each wraps rig.ErrContract and names the tensor, what was found and
// what was expected.
func CheckContract(inputs, outputs []TensorInfo) (Contract, error) {
	var c Contract
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format+": %w", append(args, rig.ErrContract)...))
	}
	outByName := make(map[string]TensorInfo, len(outputs))
	for _, o := range outputs {
		outByName[o.Name] = o
	}
	seen := map[string]bool{}
	usedOutputs := map[string]string{OutputResponses: "responses"}
	// The frame's first dimension says whether the model is batched; every
	// other tensor must then agree.
	for _, in := range inputs {
		if in.Name == InputFrame && !in.NotTensor && len(in.Shape) > 0 && in.Shape[0] == onnxbuild.Dynamic {
			c.Batched = true
		}
	}
	lead, batch := int64(1), "batch 1"
	if c.Batched {
		lead, batch = onnxbuild.Dynamic, `a dynamic batch dimension, as "frame" has`
	}
	pair := func(n int64) []int64 { return []int64{lead, n} }

	for _, in := range inputs {
		seen[in.Name] = true
		if in.NotTensor {
			bad("input %q: not a tensor, expected a tensor", in.Name)
			continue
		}
		switch in.Name {
		case InputFrame:
			switch in.Type {
			case onnxbuild.Uint8:
			case onnxbuild.Float:
				c.FrameFloat = true
			default:
				bad("input %q: type %s, expected uint8 or float32", in.Name, typeName(in.Type))
			}
			if len(in.Shape) != 4 || in.Shape[0] != lead || in.Shape[1] != 1 || in.Shape[2] <= 0 || in.Shape[3] <= 0 {
				bad("input %q: shape %s, expected [1 1 H W] or [? 1 H W] with fixed H, W > 0 (144 x 256 for the foundation model)", in.Name, shapeString(in.Shape))
			} else if in.Shape[2] > 1<<16 || in.Shape[3] > 1<<16 {
				bad("input %q: shape %s, expected H, W <= 65536", in.Name, shapeString(in.Shape))
			} else {
				c.Height, c.Width = int(in.Shape[2]), int(in.Shape[3])
			}
		case InputPerspective, InputModulation:
			if in.Type != onnxbuild.Float || !slices.Equal(in.Shape, pair(2)) {
				bad("input %q: %s %s, expected float32 %s", in.Name, typeName(in.Type), shapeString(in.Shape), shapeString(pair(2)))
			}
		case InputBehaviour:
			c.BehaviourInput = true
			if in.Type != onnxbuild.Float || !slices.Equal(in.Shape, pair(4)) {
				bad("input %q: %s %s, expected float32 %s (pupil x, pupil y, pupil radius, treadmill)", in.Name, typeName(in.Type), shapeString(in.Shape), shapeString(pair(4)))
			}
		default:
			out, candidates := pairedOutput(in.Name, outByName)
			if len(candidates) == 0 {
				bad("input %q: not frame, perspective or modulation, and not named as state (in.X, X_in or state_in_X)", in.Name)
				continue
			}
			if out == "" {
				bad("input %q: state input without its output, expected an output named %s", in.Name, strings.Join(quoteAll(candidates), " or "))
				continue
			}
			if prev, dup := usedOutputs[out]; dup {
				bad("input %q: pairs with output %q, which already belongs to %s", in.Name, out, prev)
				continue
			}
			usedOutputs[out] = fmt.Sprintf("input %q", in.Name)
			o := outByName[out]
			ok := true
			if in.Type != onnxbuild.Float {
				bad("state input %q: type %s, expected float32", in.Name, typeName(in.Type))
				ok = false
			}
			if o.NotTensor || o.Type != onnxbuild.Float {
				bad("state output %q: type %s, expected float32 like input %q", out, infoType(o), in.Name)
				ok = false
			}
			if !batchShape(in.Shape, lead) {
				bad("state input %q: shape %s, expected fixed dimensions > 0 with %s", in.Name, shapeString(in.Shape), batch)
				ok = false
			} else if !slices.Equal(in.Shape, o.Shape) {
				bad("state output %q: shape %s, expected %s like input %q", out, shapeString(o.Shape), shapeString(in.Shape), in.Name)
				ok = false
			}
			if ok {
				c.State = append(c.State, StatePair{Input: in.Name, Output: out, Shape: batchOne(in.Shape)})
			}
		}
	}
	if !seen[InputFrame] {
		bad("input %q: missing, expected %s", InputFrame, expectedOf(InputFrame))
	}
	switch {
	case c.BehaviourInput && (seen[InputPerspective] || seen[InputModulation]):
		bad("input %q: given with %q or %q, expected either one behaviour [1 4] input or perspective and modulation [1 2]",
			InputBehaviour, InputPerspective, InputModulation)
	case !c.BehaviourInput:
		for _, name := range []string{InputPerspective, InputModulation} {
			if !seen[name] {
				bad("input %q: missing, expected %s (or one input %q: float32 [1 4])", name, expectedOf(name), InputBehaviour)
			}
		}
	}
	if f, ok := outByName[OutputFeatures]; ok {
		usedOutputs[OutputFeatures] = "features"
		if f.NotTensor || f.Type != onnxbuild.Float || !batchShape(f.Shape, lead) || (len(f.Shape) != 2 && len(f.Shape) != 4) {
			bad("output %q: %s %s, expected float32 [1 C h w] or [1 F] with fixed dimensions and %s", OutputFeatures, infoType(f), shapeString(f.Shape), batch)
		} else {
			c.Features = batchOne(f.Shape)
		}
	}

	resp, ok := outByName[OutputResponses]
	switch {
	case !ok:
		bad("output %q: missing, expected float32 [1 N]", OutputResponses)
	case resp.NotTensor || resp.Type != onnxbuild.Float || len(resp.Shape) != 2 || resp.Shape[0] != lead || resp.Shape[1] <= 0:
		bad("output %q: %s %s, expected float32 %s with fixed N > 0", OutputResponses, infoType(resp), shapeString(resp.Shape), strings.Replace(shapeString(pair(1)), "1]", "N]", 1))
	default:
		c.Neurons = int(resp.Shape[1])
	}
	for _, o := range outputs {
		if _, used := usedOutputs[o.Name]; !used {
			c.Ignored = append(c.Ignored, o.Name)
		}
	}
	if len(errs) > 0 {
		return Contract{}, errors.Join(errs...)
	}
	return c, nil
}

// pairedOutput returns the output that state input name pairs with, and
// the candidate output names its naming conventions allow (none when name
// follows no convention). out is "" when no candidate exists.
func pairedOutput(name string, outputs map[string]TensorInfo) (out string, candidates []string) {
	if rest, ok := strings.CutPrefix(name, "in."); ok && rest != "" {
		candidates = append(candidates, "out."+rest)
	}
	if rest, ok := strings.CutPrefix(name, "state_in_"); ok && rest != "" {
		candidates = append(candidates, "state_out_"+rest)
	}
	if base, ok := strings.CutSuffix(name, "_in"); ok && base != "" {
		candidates = append(candidates, base+"_out")
	}
	for _, c := range candidates {
		if _, ok := outputs[c]; ok {
			return c, candidates
		}
	}
	return "", candidates
}

func expectedOf(name string) string {
	if name == InputFrame {
		return "uint8 or float32 [1 1 H W]"
	}
	return "float32 [1 2]"
}

// batchShape reports whether s has the batch dimension lead (1 or
// onnxbuild.Dynamic) first and fixed dimensions > 0 after it, with at most
// 2^31 values per batch row.
func batchShape(s []int64, lead int64) bool {
	if len(s) == 0 || s[0] != lead {
		return false
	}
	n := int64(1)
	for _, d := range s[1:] {
		if d <= 0 || d > 1<<31 {
			return false
		}
		n *= d
		if n > 1<<31 {
			return false
		}
	}
	return true
}

// batchOne returns a copy of s with its batch dimension set to 1.
func batchOne(s []int64) []int64 {
	out := slices.Clone(s)
	out[0] = 1
	return out
}

func product(s []int64) int64 {
	n := int64(1)
	for _, d := range s {
		n *= d
	}
	return n
}

func typeName(t onnxbuild.ElemType) string {
	if t == onnxbuild.Float {
		return "float32"
	}
	return t.String()
}

func infoType(t TensorInfo) string {
	if t.NotTensor {
		return "non-tensor"
	}
	return typeName(t.Type)
}

func shapeString(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return q
}

// Inspect reads a model's inputs and outputs with ONNX Runtime and checks
// them against the contract. Init must have succeeded. Bytes that ONNX
// Runtime cannot load give an error wrapping rig.ErrInvalid; a model that
// loads but does not fit gives CheckContract's error.
func Inspect(model []byte) (Contract, error) {
	return inspect(source{data: model})
}

// InspectFile is Inspect for a model file. Errors name the file.
func InspectFile(path string) (Contract, error) {
	return inspect(source{path: path})
}

// source is a model given either as a file or as bytes.
type source struct {
	path string
	data []byte
}

func (s source) String() string {
	if s.path != "" {
		return fmt.Sprintf("model file %q", s.path)
	}
	return fmt.Sprintf("model (%d bytes)", len(s.data))
}

func inspect(src source) (Contract, error) {
	if !ort.IsInitialized() {
		return Contract{}, errNotInitialised
	}
	var ins, outs []ort.InputOutputInfo
	var err error
	if src.path != "" {
		st, statErr := os.Stat(src.path)
		if statErr != nil {
			return Contract{}, fmt.Errorf("%s: %w", src, errors.Join(statErr, rig.ErrInvalid))
		}
		if st.IsDir() {
			return Contract{}, fmt.Errorf("%s is a directory, expected an .onnx file: %w", src, rig.ErrInvalid)
		}
		ins, outs, err = ort.GetInputOutputInfo(src.path)
	} else {
		if len(src.data) == 0 {
			return Contract{}, fmt.Errorf("model: no bytes, expected an ONNX model: %w", rig.ErrInvalid)
		}
		ins, outs, err = ort.GetInputOutputInfoWithONNXData(src.data)
	}
	if err != nil {
		return Contract{}, fmt.Errorf("%s is not a loadable ONNX model: %s: %w", src, oneLine(err.Error()), rig.ErrInvalid)
	}
	c, err := CheckContract(tensorInfos(ins), tensorInfos(outs))
	if err != nil {
		return Contract{}, fmt.Errorf("%s: %w", src, err)
	}
	return c, nil
}

func tensorInfos(infos []ort.InputOutputInfo) []TensorInfo {
	out := make([]TensorInfo, len(infos))
	for i, in := range infos {
		out[i] = TensorInfo{
			Name:      in.Name,
			NotTensor: in.OrtValueType != ort.ONNXTypeTensor,
			Type:      onnxbuild.ElemType(in.DataType),
			Shape:     slices.Clone([]int64(in.Dimensions)),
		}
	}
	return out
}
