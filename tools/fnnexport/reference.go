package fnnexport

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

// ReferenceFormat is the value of a reference file's "format" field.
const ReferenceFormat = "twinrig-fnn-export-reference/1"

// Reference is what the exporter saves beside a model: the inputs of a few
// steps from a reset and the original network's responses to them.
type Reference struct {
	Format string `json:"format"`
	// Model is the model file's name, as the exporter wrote it.
	Model     string   `json:"model"`
	Height    int      `json:"height"`
	Width     int      `json:"width"`
	Neurons   int      `json:"neurons"`
	NeuronIDs []string `json:"neuron_ids"`
	// State lists the state tensors in the model's input order; each is
	// the pair in.Name / out.Name.
	State []StateTensor `json:"state"`
	// FeaturesShape is the shape of the model's "features" output (the
	// core's feature map the readout samples, e.g. [1 512 16 24]), nil for
	// a model without one. Each step's Features holds every
	// FeaturesStride-th value of the flattened map.
	FeaturesShape  []int64 `json:"features_shape"`
	FeaturesStride int     `json:"features_stride"`
	// Report is the exporter's own verification (PyTorch with explicit
	// state, and the onnxruntime Python package when it was installed).
	Report ExportReport `json:"report"`
	Steps  []Step       `json:"steps"`
}

// StateTensor names one state tensor of an exported model.
type StateTensor struct {
	Name  string  `json:"name"`
	Shape []int64 `json:"shape"`
}

// ExportReport is the exporter's verification summary. The errors are the
// largest relative differences from the original network's responses; a nil
// OnnxRuntimeMaxRelErr means the exporter could not run ONNX Runtime.
type ExportReport struct {
	TorchExplicitMaxRelErr float64  `json:"torch_explicit_max_rel_err"`
	OnnxRuntimeMaxRelErr   *float64 `json:"onnxruntime_max_rel_err"`
	StateTensors           int      `json:"state_tensors"`
	StateFloats            int      `json:"state_floats"`
	// RewrittenReadouts counts the readouts exported as a gather instead
	// of GridSample; EinsumsAsMatMul says whether batched-matrix-product
	// einsums were exported as MatMul (rewrites.py).
	RewrittenReadouts int  `json:"rewritten_readouts"`
	EinsumsAsMatMul   bool `json:"einsums_as_matmul"`
	// DynamicBatch says whether every input and output has a dynamic batch
	// dimension; TorchBatchMaxRelErr is then the error of row 0 of a 3-row
	// batch run of the explicit-state wrapper against the original.
	DynamicBatch        bool     `json:"dynamic_batch"`
	TorchBatchMaxRelErr *float64 `json:"torch_batch_max_rel_err"`
}

// Step is one step's inputs and the original network's responses.
type Step struct {
	// Frame is the frame's Height*Width bytes, row-major, base64-encoded.
	Frame       string     `json:"frame"`
	Perspective [2]float32 `json:"perspective"`
	Modulation  [2]float32 `json:"modulation"`
	Responses   []float32  `json:"responses"`
	// Features samples the original network's feature map (see
	// Reference.FeaturesShape); empty without features.
	Features []float32 `json:"features"`

	pixels []byte
}

// Pixels returns the decoded frame (after ReadReference or ParseReference).
func (s Step) Pixels() []byte { return s.pixels }

// Behaviour returns the step's behaviour in the form onnxmodel.Runner.Step
// takes: perspective = pupil x, y; modulation = pupil radius, treadmill.
func (s Step) Behaviour() rig.Behaviour {
	return rig.Behaviour{
		PupilX: s.Perspective[0], PupilY: s.Perspective[1],
		PupilRadius: s.Modulation[0], Treadmill: s.Modulation[1],
	}
}

// ReadReference reads and checks a reference file (see ParseReference).
func ReadReference(path string) (*Reference, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fnn export reference: %w", err)
	}
	ref, err := ParseReference(b)
	if err != nil {
		return nil, fmt.Errorf("fnn export reference %q: %w", path, err)
	}
	return ref, nil
}

// ParseReference decodes a reference and checks that it is whole: the
// format is ReferenceFormat, every frame decodes to Height*Width bytes and
// every step holds Neurons finite, strictly positive responses. Errors wrap
// rig.ErrInvalid and name the step.
func ParseReference(b []byte) (*Reference, error) {
	var ref Reference
	if err := json.Unmarshal(b, &ref); err != nil {
		return nil, fmt.Errorf("not a reference document: %s: %w", err, rig.ErrInvalid)
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format+": %w", append(args, rig.ErrInvalid)...))
	}
	if ref.Format != ReferenceFormat {
		return nil, fmt.Errorf("format %q, expected %q: %w", ref.Format, ReferenceFormat, rig.ErrInvalid)
	}
	if ref.Height <= 0 || ref.Width <= 0 || ref.Neurons <= 0 {
		return nil, fmt.Errorf("height %d, width %d, neurons %d, expected all > 0: %w", ref.Height, ref.Width, ref.Neurons, rig.ErrInvalid)
	}
	if len(ref.Steps) == 0 {
		bad("no steps, expected at least one")
	}
	if ref.NeuronIDs != nil && len(ref.NeuronIDs) != ref.Neurons {
		bad("%d neuron ids for %d neurons, expected one per neuron", len(ref.NeuronIDs), ref.Neurons)
	}
	samples := 0
	if ref.FeaturesShape != nil {
		n := int64(1)
		for _, d := range ref.FeaturesShape {
			n *= d
		}
		if n <= 0 || ref.FeaturesShape[0] != 1 || ref.FeaturesStride <= 0 {
			bad("features shape %v with stride %d, expected [1 ...] dimensions > 0 and a stride > 0", ref.FeaturesShape, ref.FeaturesStride)
		} else {
			samples = int((n + int64(ref.FeaturesStride) - 1) / int64(ref.FeaturesStride))
		}
	}
	for i := range ref.Steps {
		s := &ref.Steps[i]
		if samples > 0 && len(s.Features) != samples {
			bad("step %d: %d feature samples, expected %d", i, len(s.Features), samples)
		}
		px, err := base64.StdEncoding.DecodeString(s.Frame)
		switch {
		case err != nil:
			bad("step %d: frame is not base64: %s", i, err)
		case len(px) != ref.Height*ref.Width:
			bad("step %d: frame has %d bytes, expected %d x %d = %d", i, len(px), ref.Height, ref.Width, ref.Height*ref.Width)
		default:
			s.pixels = px
		}
		if len(s.Responses) != ref.Neurons {
			bad("step %d: %d responses, expected %d", i, len(s.Responses), ref.Neurons)
			continue
		}
		for j, r := range s.Responses {
			if !(r > 0) || math.IsInf(float64(r), 0) {
				bad("step %d: response %d is %g, expected a finite value > 0", i, j, r)
				break
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &ref, nil
}

// MatchContract checks that a model's contract (as onnxmodel.InspectFile or
// Runner.Contract report it) is the model the reference describes: a uint8
// frame of the same size, perspective and modulation inputs, the same
// number of neurons, the same state tensors in the same order, and, when
// the contract carries metadata, contract version 1 and the same neuron ids.
// Every mismatch is reported, each wrapping rig.ErrContract.
func MatchContract(c onnxmodel.Contract, ref *Reference) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format+": %w", append(args, rig.ErrContract)...))
	}
	if c.FrameFloat {
		bad("input %q is float32, expected uint8 (the exporter's frame)", onnxmodel.InputFrame)
	}
	if c.Height != ref.Height || c.Width != ref.Width {
		bad("frame %d x %d, expected %d x %d", c.Height, c.Width, ref.Height, ref.Width)
	}
	if c.BehaviourInput {
		bad("input %q, expected %q and %q", onnxmodel.InputBehaviour, onnxmodel.InputPerspective, onnxmodel.InputModulation)
	}
	if c.Neurons != ref.Neurons {
		bad("%d neurons, expected %d", c.Neurons, ref.Neurons)
	}
	if len(c.State) != len(ref.State) {
		bad("%d state tensors, expected %d", len(c.State), len(ref.State))
	} else {
		for i, s := range ref.State {
			got := c.State[i]
			if got.Input != "in."+s.Name || got.Output != "out."+s.Name || !slices.Equal(got.Shape, s.Shape) {
				bad("state %d: %s/%s %v, expected in.%s/out.%s %v", i, got.Input, got.Output, got.Shape, s.Name, s.Name, s.Shape)
			}
		}
	}
	if !slices.Equal(c.Features, ref.FeaturesShape) {
		bad("features output %v, expected %v", c.Features, ref.FeaturesShape)
	}
	md := c.Metadata
	if md.Contract != 0 && md.Contract != onnxmodel.ContractVersion {
		bad("metadata contract %d, expected %d", md.Contract, onnxmodel.ContractVersion)
	}
	if md.NeuronIDs != nil && ref.NeuronIDs != nil && !slices.Equal(md.NeuronIDs, ref.NeuronIDs) {
		bad("metadata neuron ids differ from the reference's")
	}
	return errors.Join(errs...)
}

// Comparison is how far a Runner's responses were from the reference's.
type Comparison struct {
	// MaxRelErr is the largest |got - want| / |want| over all steps and
	// neurons; StepMaxRelErr holds it per step.
	MaxRelErr     float64
	StepMaxRelErr []float64
	// Worst locates MaxRelErr.
	WorstStep, WorstNeuron int
	// FeaturesMaxScaledErr is, over all steps, the largest |got - want|
	// among the sampled feature values divided by the step's largest
	// |want| (features may be near zero, so a plain relative error says
	// little); 0 for a model without features.
	FeaturesMaxScaledErr float64
}

// Compare resets the runner and steps it through the reference's steps,
// comparing each step's responses (and sampled features) with the
// reference's. The runner is left after the last step.
func Compare(r *onnxmodel.Runner, ref *Reference) (Comparison, error) {
	if err := MatchContract(r.Contract(), ref); err != nil {
		return Comparison{}, err
	}
	r.Reset()
	var cmp Comparison
	got := make([]float32, ref.Neurons)
	for i, s := range ref.Steps {
		if err := r.Step(s.Pixels(), s.Behaviour(), got); err != nil {
			return Comparison{}, fmt.Errorf("step %d: %w", i, err)
		}
		worst := 0.0
		for j, want := range s.Responses {
			e := math.Abs(float64(got[j])-float64(want)) / math.Abs(float64(want))
			if math.IsNaN(e) {
				e = math.Inf(1)
			}
			if e > worst {
				worst = e
			}
			if e > cmp.MaxRelErr {
				cmp.MaxRelErr, cmp.WorstStep, cmp.WorstNeuron = e, i, j
			}
		}
		cmp.StepMaxRelErr = append(cmp.StepMaxRelErr, worst)
		if len(s.Features) > 0 {
			if e := scaledErr(r.Features(), s.Features, ref.FeaturesStride); e > cmp.FeaturesMaxScaledErr {
				cmp.FeaturesMaxScaledErr = e
			}
		}
	}
	return cmp, nil
}

// scaledErr is max |got[k*stride] - want[k]| / max |want[k]| (+Inf for a
// NaN or missing value).
func scaledErr(got, want []float32, stride int) float64 {
	var diff, scale float64
	for k, w := range want {
		i := k * stride
		if i >= len(got) {
			return math.Inf(1)
		}
		d := math.Abs(float64(got[i]) - float64(w))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		diff = max(diff, d)
		scale = max(scale, math.Abs(float64(w)))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

// PythonEnv names the environment variable that may hold the Python
// interpreter to run the exporter with.
const PythonEnv = "TWINRIG_PYTHON"

// ErrNoTorch means that no Python interpreter with PyTorch was found.
var ErrNoTorch = errors.New("no python with torch")

// FindPython returns a Python interpreter that imports torch: $TWINRIG_PYTHON
// when set (an error if it cannot import torch), else the first of python3
// on $PATH and Debian's /usr/bin/python3 that can. When none can, the error
// wraps ErrNoTorch and says what was tried.
func FindPython(ctx context.Context) (string, error) {
	if p := os.Getenv(PythonEnv); p != "" {
		if err := importsTorch(ctx, p); err != nil {
			return "", fmt.Errorf("$%s=%q: %w", PythonEnv, p, err)
		}
		return p, nil
	}
	var tried []string
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = slices.Insert(candidates, 0, p)
	}
	for _, p := range slices.Compact(candidates) {
		err := importsTorch(ctx, p)
		if err == nil {
			return p, nil
		}
		tried = append(tried, fmt.Sprintf("%s (%s)", p, err))
	}
	return "", fmt.Errorf("%w: tried %s; install PyTorch (Debian: apt-get install python3-torch) or set $%s",
		ErrNoTorch, strings.Join(tried, ", "), PythonEnv)
}

func importsTorch(ctx context.Context, python string) error {
	out, err := exec.CommandContext(ctx, python, "-c", "import torch").CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return fmt.Errorf("cannot import torch: %s: %s", err, lines[len(lines)-1])
	}
	return nil
}
