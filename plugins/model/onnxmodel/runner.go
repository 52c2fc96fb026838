package onnxmodel

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/twinrig/twinrig/rig"
)

// Devices a Runner can ask for.
const (
	DeviceCPU  = "cpu"
	DeviceCUDA = "cuda"
)

// Options configure a Runner.
type Options struct {
	// Threads is ONNX Runtime's intra-op thread count; 0 leaves ONNX
	// Runtime's default (one per physical core).
	Threads int
	// Device is DeviceCPU (also when empty) or DeviceCUDA. CUDA is used
	// when CheckCUDA passes for the loaded ONNX Runtime library and ONNX
	// Runtime then accepts the CUDA execution provider; otherwise the model
	// runs on the CPU and one warning in the log gives the reason.
	// Runner.Device reports what was used.
	Device string
	// Library is the ONNX Runtime shared library, passed to Init (and from
	// there to LocateLibrary); empty searches the default places.
	Library string
	// Logger receives the warning of a CUDA fallback; nil is slog.Default().
	Logger *slog.Logger
}

// Runner steps a contract-fitting model frame by frame and keeps its
// recurrent state between steps.
//
// All tensors are allocated once. The state lives in two sets of buffers
// that swap roles each step: step k reads set k%2 and writes set (k+1)%2,
// so the state is fed back without being copied and never leaves the
// process. With the CUDA provider the buffers stay in host memory too, and
// ONNX Runtime copies the state to the GPU and back on every step:
// onnxruntime_go v1.36.0 cannot create a tensor in device memory, nor bind
// an output to the device (rig/proto/MODEL.md, "Devices and threads").
//
// A Runner is not safe for concurrent use.
type Runner struct {
	contract Contract
	device   string
	session  *ort.DynamicAdvancedSession
	tensors
}

// tensors holds every input and output of a step for rows batch rows (1
// for a Runner), allocated once: the first dimension of each is rows.
type tensors struct {
	rows        int
	frameU8     *ort.Tensor[uint8]
	frameF32    *ort.Tensor[float32]
	perspective *ort.Tensor[float32]
	modulation  *ort.Tensor[float32]
	behaviour   *ort.Tensor[float32]
	responses   *ort.Tensor[float32]
	features    *ort.Tensor[float32]
	state       [2][]*ort.Tensor[float32]

	// inputs[k] and outputs[k] are the value lists of a step that reads
	// state set k.
	inputs, outputs [2][]ort.Value
	cur             int
}

// New loads a model from its bytes, checks it against the contract (see
// Contract) and prepares a Runner with zero state. It calls Init with
// opts.Library. Errors wrap rig.ErrContract for a model that does not fit
// and rig.ErrInvalid for bytes that are not a model or bad options.
func New(model []byte, opts Options) (*Runner, error) {
	return newRunner(source{data: model}, opts)
}

// NewFile is New for a model file; errors name the file.
func NewFile(path string, opts Options) (*Runner, error) {
	return newRunner(source{path: path}, opts)
}

func newRunner(src source, opts Options) (*Runner, error) {
	if opts.Device == "" {
		opts.Device = DeviceCPU
	}
	if opts.Device != DeviceCPU && opts.Device != DeviceCUDA {
		return nil, fmt.Errorf("device %q, expected %q or %q: %w", opts.Device, DeviceCPU, DeviceCUDA, rig.ErrInvalid)
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("threads %d, expected >= 0 (0 = onnx runtime's default): %w", opts.Threads, rig.ErrInvalid)
	}
	if err := Init(opts.Library); err != nil {
		return nil, err
	}
	c, err := inspect(src)
	if err != nil {
		return nil, err
	}
	r := &Runner{contract: c}
	if err := r.allocate(c, 1); err != nil {
		r.Close()
		return nil, err
	}
	inNames, outNames := c.names()
	if opts.Device == DeviceCUDA {
		r.session = newCUDASession(src, inNames, outNames, opts)
		if r.session != nil {
			r.device = DeviceCUDA
		}
	}
	if r.session == nil {
		r.session, err = newSession(src, inNames, outNames, opts.Threads, false)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("%s: create onnx runtime session: %s", src, oneLine(err.Error()))
		}
		r.device = DeviceCPU
	}
	if err := r.readMetadata(src); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// readMetadata parses the model's twinrig metadata properties into the
// contract.
func (r *Runner) readMetadata(src source) error {
	md, err := r.session.GetModelMetadata()
	if err != nil {
		return fmt.Errorf("%s: read metadata: %s", src, oneLine(err.Error()))
	}
	defer md.Destroy()
	keys, err := md.GetCustomMetadataMapKeys()
	if err != nil {
		return fmt.Errorf("%s: read metadata: %s", src, oneLine(err.Error()))
	}
	parsed, err := ParseMetadata(keys, func(k string) (string, bool) {
		v, ok, err := md.LookupCustomMetadataMap(k)
		return v, ok && err == nil
	}, r.contract.Neurons)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	r.contract.Metadata = parsed
	return nil
}

// newCUDASession returns a session on the CUDA execution provider, or nil
// after logging, once, why there is none: the file or library CheckCUDA
// found missing, or ONNX Runtime's error.
func newCUDASession(src source, inNames, outNames []string, opts Options) *ort.DynamicAdvancedSession {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	const msg = "cuda unavailable, running the model on the cpu"
	if err := CheckCUDA(loadedLibrary()); err != nil {
		log.Warn(msg, "model", src.String(), "reason", err.Error())
		return nil
	}
	s, err := newSession(src, inNames, outNames, opts.Threads, true)
	if err != nil {
		log.Warn(msg, "model", src.String(), "reason", "onnx runtime: "+oneLine(err.Error()))
		return nil
	}
	return s
}

func newSession(src source, inNames, outNames []string, threads int, cuda bool) (*ort.DynamicAdvancedSession, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if threads > 0 {
		if err := so.SetIntraOpNumThreads(threads); err != nil {
			return nil, err
		}
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	if cuda {
		co, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return nil, err
		}
		err = so.AppendExecutionProviderCUDA(co)
		co.Destroy()
		if err != nil {
			return nil, err
		}
	}
	if src.path != "" {
		return ort.NewDynamicAdvancedSession(src.path, inNames, outNames, so)
	}
	return ort.NewDynamicAdvancedSessionWithONNXData(src.data, inNames, outNames, so)
}

// names returns the session's input and output names in the order of the
// value lists.
func (c Contract) names() (in, out []string) {
	in = []string{InputFrame, InputPerspective, InputModulation}
	if c.BehaviourInput {
		in = []string{InputFrame, InputBehaviour}
	}
	out = []string{OutputResponses}
	if c.Features != nil {
		out = append(out, OutputFeatures)
	}
	for _, s := range c.State {
		in = append(in, s.Input)
		out = append(out, s.Output)
	}
	return in, out
}

// allocate creates the tensors of a step of rows batch rows of a model
// with contract c.
func (r *tensors) allocate(c Contract, rows int) error {
	r.rows = rows
	n := int64(rows)
	withRows := func(shape []int64) ort.Shape {
		s := ort.NewShape(shape...)
		s[0] = n
		return s
	}
	var err error
	var frame ort.Value
	frameShape := ort.NewShape(n, 1, int64(c.Height), int64(c.Width))
	if c.FrameFloat {
		r.frameF32, err = ort.NewEmptyTensor[float32](frameShape)
		frame = r.frameF32
	} else {
		r.frameU8, err = ort.NewEmptyTensor[uint8](frameShape)
		frame = r.frameU8
	}
	if err != nil {
		return fmt.Errorf("allocate frame tensor: %w", err)
	}
	ins := []ort.Value{frame}
	if c.BehaviourInput {
		if r.behaviour, err = ort.NewEmptyTensor[float32](ort.NewShape(n, 4)); err != nil {
			return fmt.Errorf("allocate behaviour tensor: %w", err)
		}
		ins = append(ins, r.behaviour)
	} else {
		if r.perspective, err = ort.NewEmptyTensor[float32](ort.NewShape(n, 2)); err != nil {
			return fmt.Errorf("allocate perspective tensor: %w", err)
		}
		if r.modulation, err = ort.NewEmptyTensor[float32](ort.NewShape(n, 2)); err != nil {
			return fmt.Errorf("allocate modulation tensor: %w", err)
		}
		ins = append(ins, r.perspective, r.modulation)
	}
	if r.responses, err = ort.NewEmptyTensor[float32](ort.NewShape(n, int64(c.Neurons))); err != nil {
		return fmt.Errorf("allocate responses tensor: %w", err)
	}
	outs := []ort.Value{r.responses}
	if c.Features != nil {
		if r.features, err = ort.NewEmptyTensor[float32](withRows(c.Features)); err != nil {
			return fmt.Errorf("allocate features tensor: %w", err)
		}
		outs = append(outs, r.features)
	}
	for k := range 2 {
		for _, s := range c.State {
			t, err := ort.NewEmptyTensor[float32](withRows(s.Shape))
			if err != nil {
				return fmt.Errorf("allocate state tensor %q: %w", s.Input, err)
			}
			r.state[k] = append(r.state[k], t)
		}
	}
	for k := range 2 {
		r.inputs[k] = slices.Clone(ins)
		r.outputs[k] = slices.Clone(outs)
		for i := range c.State {
			r.inputs[k] = append(r.inputs[k], r.state[k][i])
			r.outputs[k] = append(r.outputs[k], r.state[1-k][i])
		}
	}
	return nil
}

// Contract returns the model's contract description.
func (r *Runner) Contract() Contract { return r.contract }

// Device returns where the model runs: DeviceCPU or DeviceCUDA.
func (r *Runner) Device() string { return r.device }

// Step runs one frame. frame holds Height*Width 8-bit pixels, row-major.
// The behaviour goes to the model as perspective = (PupilX, PupilY) and
// modulation = (PupilRadius, Treadmill); a NaN (not measured) is fed as 0,
// the training mean of a z-scored input. The responses are written to dst,
// which must hold Contract().Neurons values. After an error the state is
// unchanged.
func (r *Runner) Step(frame []byte, b rig.Behaviour, dst []float32) error {
	if r.session == nil {
		return fmt.Errorf("step: runner is closed: %w", rig.ErrState)
	}
	c := r.contract
	if len(frame) != c.Height*c.Width {
		return fmt.Errorf("step: frame has %d pixels, expected %d x %d = %d: %w",
			len(frame), c.Width, c.Height, c.Height*c.Width, rig.ErrInvalid)
	}
	if len(dst) != c.Neurons {
		return fmt.Errorf("step: response buffer holds %d values, expected %d: %w", len(dst), c.Neurons, rig.ErrInvalid)
	}
	if c.FrameFloat {
		px := r.frameF32.GetData()
		for i, v := range frame {
			px[i] = float32(v)
		}
	} else {
		copy(r.frameU8.GetData(), frame)
	}
	r.setBehaviour(0, b)
	if err := r.session.Run(r.inputs[r.cur], r.outputs[r.cur]); err != nil {
		return fmt.Errorf("step: %s", oneLine(err.Error()))
	}
	copy(dst, r.responses.GetData())
	r.cur = 1 - r.cur
	return nil
}

// Features returns the core features of the last step (the "features"
// output, flattened), or nil when the model has none. The slice is the
// runner's own and is overwritten by the next Step.
func (r *Runner) Features() []float32 {
	if r.features == nil {
		return nil
	}
	return r.features.GetData()
}

// setBehaviour writes b into batch row row of the behaviour inputs
// (perspective and modulation, or behaviour), a NaN as 0.
func (r *tensors) setBehaviour(row int, b rig.Behaviour) {
	if r.behaviour != nil {
		v := r.behaviour.GetData()[4*row:]
		v[0], v[1], v[2], v[3] = orZero(b.PupilX), orZero(b.PupilY), orZero(b.PupilRadius), orZero(b.Treadmill)
		return
	}
	p, m := r.perspective.GetData()[2*row:], r.modulation.GetData()[2*row:]
	p[0], p[1] = orZero(b.PupilX), orZero(b.PupilY)
	m[0], m[1] = orZero(b.PupilRadius), orZero(b.Treadmill)
}

func orZero(v float32) float32 {
	if math.IsNaN(float64(v)) {
		return 0
	}
	return v
}

// Reset sets the recurrent state to zero, as at the start.
func (r *Runner) Reset() {
	for _, t := range r.state[0] {
		t.ZeroContents()
	}
	r.cur = 0
}

// Close frees the session and all tensors. It is safe to call more than
// once; a closed Runner's Step returns an error wrapping rig.ErrState.
func (r *Runner) Close() error {
	var errs []error
	if r.session != nil {
		errs = append(errs, r.session.Destroy())
		r.session = nil
	}
	errs = append(errs, r.free())
	return errors.Join(errs...)
}

// free destroys the tensors; it is safe to call more than once.
func (r *tensors) free() error {
	var errs []error
	destroy := func(v interface{ Destroy() error }) {
		errs = append(errs, v.Destroy())
	}
	if r.frameU8 != nil {
		destroy(r.frameU8)
		r.frameU8 = nil
	}
	if r.frameF32 != nil {
		destroy(r.frameF32)
		r.frameF32 = nil
	}
	for _, t := range []**ort.Tensor[float32]{&r.perspective, &r.modulation, &r.behaviour, &r.responses, &r.features} {
		if *t != nil {
			destroy(*t)
			*t = nil
		}
	}
	for k := range 2 {
		for _, t := range r.state[k] {
			destroy(t)
		}
		r.state[k] = nil
	}
	r.inputs, r.outputs = [2][]ort.Value{}, [2][]ort.Value{}
	return errors.Join(errs...)
}
