package defaultmodel

import (
	"fmt"
	"math"

	"github.com/twinrig/twinrig/plugins/model/internal/splitmix"
	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
	"github.com/twinrig/twinrig/rig"
)

// Sizes and names of the built-in model.
const (
	// Height and Width are the frame size (the foundation model's).
	Height, Width = 144, 256
	// Pool is the side of the average-pooling window (and its stride).
	Pool = 8
	// MapHeight and MapWidth are the size of the pooled feature map.
	MapHeight, MapWidth = Height / Pool, Width / Pool
	// Filters is the number of Gabor filters: 4 orientations x 2 phases.
	Filters = 8
	// KernelSize is the Gabor filters' side, in pooled pixels.
	KernelSize = 7
	// StateSize is the length of the recurrent state (and of the feature
	// vector): Filters * MapHeight * MapWidth.
	StateSize = Filters * MapHeight * MapWidth
	// Decay is the state's low-pass coefficient a in h' = a*h + (1-a)*f:
	// a time constant of about two frames (65 ms at 30 Hz).
	Decay float32 = 0.6
	// ModulationGain scales the behaviour gain 1 + ModulationGain*tanh(...).
	ModulationGain float32 = 0.1

	// DefaultNeurons is the neuron count when Options.Neurons is 0.
	DefaultNeurons = 100
	// MaxNeurons bounds Options.Neurons (the readout then holds ~370 MB).
	MaxNeurons = 20000

	// StateInput and StateOutput name the recurrent state tensors.
	StateInput, StateOutput = "in.h", "out.h"
	// ReadoutWeight ([StateSize, Neurons]) and ReadoutBias ([Neurons]) name
	// the readout's initializers, for tools that refit them to a mouse.
	ReadoutWeight, ReadoutBias = "readout.weight", "readout.bias"
	// FeaturesOutput names the core features output: the state h' as a
	// [1, Filters, MapHeight, MapWidth] map, the readout's input. A new
	// mouse's readout is fitted on it.
	FeaturesOutput = "features"
)

// Options select the built-in model's size and weights.
type Options struct {
	// Neurons is the number of responses, 1..MaxNeurons; 0 means
	// DefaultNeurons.
	Neurons int
	// Seed selects the random readout and behaviour weights; 0 means 1.
	Seed uint64
}

func (o Options) withDefaults() Options {
	if o.Neurons == 0 {
		o.Neurons = DefaultNeurons
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Build returns the built-in model as ONNX bytes (IR version 8, opset 17).
// The same options always give the same bytes. A Neurons value out of range
// gives an error wrapping rig.ErrInvalid.
func Build(opts Options) ([]byte, error) {
	opts = opts.withDefaults()
	if opts.Neurons < 1 || opts.Neurons > MaxNeurons {
		return nil, fmt.Errorf("defaultmodel: neurons %d, expected 1..%d: %w", opts.Neurons, MaxNeurons, rig.ErrInvalid)
	}
	p := newParams(opts)
	m := onnxbuild.Model{
		ProducerName:    "twinrig defaultmodel",
		ProducerVersion: "1",
		DocString: fmt.Sprintf("twinrig built-in stand-in for the foundation model: %d neurons, seed %d; "+
			"Gabor energy features, low-pass state, behaviour gain, exp readout", opts.Neurons, opts.Seed),
		Graph: graph(p),
		Metadata: map[string]string{
			"twinrig.contract":       "1",
			"twinrig.frame_rate_hz":  "30",
			"twinrig.burn_in_frames": "10",
		},
	}
	return m.Marshal()
}

// params holds every weight of the model.
type params struct {
	neurons     int
	gabor       []float32 // [Filters, 1, KernelSize, KernelSize]
	readoutW    []float32 // [StateSize, neurons], row-major
	readoutB    []float32 // [neurons]
	modulationW []float32 // [2, 1]
	perspectW   []float32 // [2, 1]
}

func newParams(opts Options) params {
	rng := splitmix64(opts.Seed)
	p := params{neurons: opts.Neurons, gabor: gaborBank()}
	// Readout weights uniform in [-1/16, 1/16), biases in [-1/4, 1/4),
	// behaviour weights in [-1, 1). Each value is a 24-bit integer times a
	// power of two, so it is exact in float32 on every platform.
	p.readoutW = make([]float32, StateSize*opts.Neurons)
	for i := range p.readoutW {
		p.readoutW[i] = rng.uniform(-27)
	}
	p.readoutB = make([]float32, opts.Neurons)
	for i := range p.readoutB {
		p.readoutB[i] = rng.uniform(-25)
	}
	p.modulationW = []float32{rng.uniform(-23), rng.uniform(-23)}
	p.perspectW = []float32{rng.uniform(-23), rng.uniform(-23)}
	return p
}

// gaborBank returns 4 orientations x 2 phases of zero-mean, unit-norm Gabor
// filters (sigma 1.5, wavelength 4 pooled pixels), quantised to multiples of
// 2^-12 so that last-bit differences of math.Exp or math.Cos between
// platforms cannot change the model's bytes.
func gaborBank() []float32 {
	const (
		sigma      = 1.5
		wavelength = 4.0
		half       = KernelSize / 2
		n          = KernelSize * KernelSize
	)
	out := make([]float32, 0, Filters*n)
	for o := range 4 {
		theta := float64(o) * math.Pi / 4
		for phase := range 2 {
			psi := float64(phase) * math.Pi / 2
			var g [n]float64
			mean := 0.0
			for y := range KernelSize {
				for x := range KernelSize {
					dx, dy := float64(x-half), float64(y-half)
					xr := dx*math.Cos(theta) + dy*math.Sin(theta)
					v := math.Exp(-(dx*dx+dy*dy)/(2*sigma*sigma)) * math.Cos(2*math.Pi*xr/wavelength+psi)
					g[y*KernelSize+x] = v
					mean += v
				}
			}
			mean /= n
			norm := 0.0
			for i := range g {
				g[i] -= mean
				norm += g[i] * g[i]
			}
			norm = math.Sqrt(norm)
			for _, v := range g {
				out = append(out, float32(math.Round(v/norm*4096)/4096))
			}
		}
	}
	return out
}

// rng draws the weights from splitmix64, so they never change with the Go
// version.
type rng struct{ *splitmix.Source }

func splitmix64(seed uint64) *rng { return &rng{splitmix.New(seed)} }

func (r *rng) next() uint64 { return r.Next() }

// uniform returns a value uniform in [-2^(23+exp), 2^(23+exp)) on a grid of
// 2^exp: a signed 24-bit integer scaled by a power of two, exact in float32.
func (r *rng) uniform(exp int) float32 {
	i := int32(r.next()>>40) - 1<<23
	return float32(math.Ldexp(float64(i), exp))
}

func scalar(name string, v float32) onnxbuild.Tensor {
	return onnxbuild.FloatTensor(name, nil, []float32{v})
}

// graph wires the model:
//
//	x    = AveragePool8x8(Cast(frame)) * 1/255 - 0.5     [1,1,18,32]
//	f    = Flatten(Relu(Conv(x, gabor, pad 3)))          [1,StateSize]
//	h'   = Decay*h + (1-Decay)*f                         out.h
//	                 features = Reshape(h', [1,Filters,18,32]), what the readout reads
//	gain = 1 + 0.1*tanh(modulation@wm + perspective@wp)  [1,1]
//	r    = Exp(h'@W + b) * gain                          responses [1,N]
func graph(p params) onnxbuild.Graph {
	n := int64(p.neurons)
	g := onnxbuild.Graph{
		Name: "twinrig_default",
		Inputs: []onnxbuild.ValueInfo{
			{Name: "frame", Type: onnxbuild.Uint8, Shape: []int64{1, 1, Height, Width}},
			{Name: "perspective", Type: onnxbuild.Float, Shape: []int64{1, 2}},
			{Name: "modulation", Type: onnxbuild.Float, Shape: []int64{1, 2}},
			{Name: StateInput, Type: onnxbuild.Float, Shape: []int64{1, StateSize}},
		},
		Outputs: []onnxbuild.ValueInfo{
			{Name: "responses", Type: onnxbuild.Float, Shape: []int64{1, n}},
			{Name: StateOutput, Type: onnxbuild.Float, Shape: []int64{1, StateSize}},
			{Name: FeaturesOutput, Type: onnxbuild.Float, Shape: []int64{1, Filters, MapHeight, MapWidth}},
		},
		Initializers: []onnxbuild.Tensor{
			onnxbuild.Int64Tensor("const.features_shape", []int64{4}, []int64{1, Filters, MapHeight, MapWidth}),
			scalar("const.inv255", 1.0/255),
			scalar("const.half", 0.5),
			scalar("const.decay", Decay),
			scalar("const.one_minus_decay", 1-Decay),
			scalar("const.gain", ModulationGain),
			scalar("const.one", 1),
			onnxbuild.FloatTensor("gabor.weight", []int64{Filters, 1, KernelSize, KernelSize}, p.gabor),
			onnxbuild.FloatTensor("modulation.weight", []int64{2, 1}, p.modulationW),
			onnxbuild.FloatTensor("perspective.weight", []int64{2, 1}, p.perspectW),
			onnxbuild.FloatTensor(ReadoutWeight, []int64{StateSize, n}, p.readoutW),
			onnxbuild.FloatTensor(ReadoutBias, []int64{n}, p.readoutB),
		},
	}
	in := func(names ...string) []string { return names }
	pad := int64(KernelSize / 2)

	// Pooling before scaling is the same map and touches 64 times fewer
	// values.
	g.Add("Cast", in("frame"), in("frame.f"), onnxbuild.AttrInt("to", int64(onnxbuild.Float)))
	g.Add("AveragePool", in("frame.f"), in("pooled.raw"),
		onnxbuild.AttrInts("kernel_shape", Pool, Pool), onnxbuild.AttrInts("strides", Pool, Pool))
	g.Add("Mul", in("pooled.raw", "const.inv255"), in("pooled.unit"))
	g.Add("Sub", in("pooled.unit", "const.half"), in("pooled"))
	g.Add("Conv", in("pooled", "gabor.weight"), in("gabor.out"),
		onnxbuild.AttrInts("kernel_shape", KernelSize, KernelSize), onnxbuild.AttrInts("pads", pad, pad, pad, pad))
	g.Add("Relu", in("gabor.out"), in("gabor.relu"))
	g.Add("Flatten", in("gabor.relu"), in("core.flat"), onnxbuild.AttrInt("axis", 1))

	g.Add("Mul", in(StateInput, "const.decay"), in("state.kept"))
	g.Add("Mul", in("core.flat", "const.one_minus_decay"), in("state.new"))
	g.Add("Add", in("state.kept", "state.new"), in(StateOutput))
	g.Add("Reshape", in(StateOutput, "const.features_shape"), in(FeaturesOutput))

	g.Add("MatMul", in("modulation", "modulation.weight"), in("gain.m"))
	g.Add("MatMul", in("perspective", "perspective.weight"), in("gain.p"))
	g.Add("Add", in("gain.m", "gain.p"), in("gain.sum"))
	g.Add("Tanh", in("gain.sum"), in("gain.tanh"))
	g.Add("Mul", in("gain.tanh", "const.gain"), in("gain.scaled"))
	g.Add("Add", in("gain.scaled", "const.one"), in("gain"))

	g.Add("MatMul", in(StateOutput, ReadoutWeight), in("readout.lin"))
	g.Add("Add", in("readout.lin", ReadoutBias), in("readout.pre"))
	g.Add("Exp", in("readout.pre"), in("readout.exp"))
	g.Add("Mul", in("readout.exp", "gain"), in("responses"))
	return g
}
