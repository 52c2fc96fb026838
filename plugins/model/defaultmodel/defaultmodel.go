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
	// Pool is the side of the average-pooling window (and its stride) that
	// takes a frame to the 18 x 32 grid the filters see.
	Pool = 8
	// GridHeight and GridWidth are the size of the pooled grid.
	GridHeight, GridWidth = Height / Pool, Width / Pool
	// Stride is the filters' stride on the grid: the feature map has one
	// position every Stride grid cells (Stride*Pool = 16 pixels).
	Stride = 2
	// MapHeight and MapWidth are the size of the feature map.
	MapHeight, MapWidth = (GridHeight-1)/Stride + 1, (GridWidth-1)/Stride + 1
	// Positions is the number of feature-map positions, MapHeight*MapWidth.
	Positions = MapHeight * MapWidth
	// Scales and Orientations count the Gabor filters' spatial frequencies
	// and orientations; each (scale, orientation) has an even and an odd
	// filter: Filters in all.
	Scales, Orientations = 3, 8
	// Filters is the number of linear filters: Scales x 2 phases x
	// Orientations, in that order.
	Filters = Scales * 2 * Orientations
	// KernelSize is the filters' side, in grid cells (the largest scale's
	// envelope to 2.7 s.d.).
	KernelSize = 23
	// Channels is the number of feature channels per position: the
	// rectified filter outputs Relu(h) (Filters), Relu(-h) (Filters), and
	// the quadrature energies e^2 + o^2 (Scales x Orientations).
	Channels = 2*Filters + Scales*Orientations
	// StateSize is the length of the recurrent state: the low-passed
	// filter outputs, Filters * Positions.
	StateSize = Filters * Positions
	// Decay is the state's low-pass coefficient a in h' = a*h + (1-a)*f:
	// a time constant of about two frames (65 ms at 30 Hz).
	Decay float32 = 0.6
	// ModulationGain scales the behaviour gain 1 + ModulationGain*tanh(...).
	ModulationGain float32 = 0.1

	// DefaultNeurons is the neuron count when Options.Neurons is 0.
	DefaultNeurons = 100
	// MaxNeurons bounds Options.Neurons.
	MaxNeurons = 20000

	// StateInput and StateOutput name the recurrent state tensors.
	StateInput, StateOutput = "in.h", "out.h"
	// ReadoutPosition ([Neurons] int64, a position index y*MapWidth+x),
	// ReadoutWeight ([Neurons, Channels]) and ReadoutBias ([Neurons]) name
	// the readout's initializers: each neuron reads the Channels features
	// at one position of the map.
	ReadoutPosition, ReadoutWeight, ReadoutBias = "readout.position", "readout.weight", "readout.bias"
	// FeaturesOutput names the core features output, a [1, Channels,
	// MapHeight, MapWidth] map: what the readout reads, and what a new
	// mouse's readout is fitted on.
	FeaturesOutput = "features"
)

// Wavelengths are the Gabor filters' wavelengths per scale, in grid cells
// (8 pixels): 32, 51 and 82 pixels, 8, 5 and 3.1 cycles across the frame
// width. Each envelope's s.d. is 0.4 wavelengths.
var Wavelengths = [Scales]float64{4, 6.4, 10.24}

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
	position    []int64   // [neurons], each in [0, Positions)
	readoutW    []float32 // [neurons, Channels], row-major
	readoutB    []float32 // [neurons]
	modulationW []float32 // [2, 1]
	perspectW   []float32 // [2, 1]
}

func newParams(opts Options) params {
	rng := splitmix64(opts.Seed)
	p := params{neurons: opts.Neurons, gabor: gaborBank()}
	// Positions uniform over the map; readout weights uniform in [-1/16,
	// 1/16), biases in [-1/4, 1/4), behaviour weights in [-1, 1). Each value
	// is a 24-bit integer times a power of two, so it is exact in float32
	// on every platform.
	p.position = make([]int64, opts.Neurons)
	for i := range p.position {
		p.position[i] = int64(rng.next() % Positions)
	}
	p.readoutW = make([]float32, Channels*opts.Neurons)
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

// gaborBank returns the Filters Gabor filters, ordered scale, phase (even,
// then odd), orientation, each KernelSize x KernelSize: wavelength
// Wavelengths[scale] grid cells, an isotropic envelope of s.d. 0.4
// wavelengths, the wave vector at orientation*pi/Orientations. Each filter
// has its DC removed (a multiple of its envelope subtracted, so that the
// correction stays local) and unit norm, and is quantised to multiples of
// 2^-12 so that last-bit differences of math.Exp or math.Cos between
// platforms cannot change the model's bytes.
func gaborBank() []float32 {
	const (
		half = KernelSize / 2
		n    = KernelSize * KernelSize
	)
	out := make([]float32, 0, Filters*n)
	for _, lambda := range Wavelengths {
		sigma := 0.4 * lambda
		for phase := range 2 {
			psi := float64(phase) * math.Pi / 2
			for o := range Orientations {
				theta := float64(o) * math.Pi / Orientations
				var g, env [n]float64
				sum, envSum := 0.0, 0.0
				for y := range KernelSize {
					for x := range KernelSize {
						dx, dy := float64(x-half), float64(y-half)
						xr := dx*math.Cos(theta) + dy*math.Sin(theta)
						e := math.Exp(-(dx*dx + dy*dy) / (2 * sigma * sigma))
						env[y*KernelSize+x] = e
						g[y*KernelSize+x] = e * math.Cos(2*math.Pi*xr/lambda+psi)
						sum += g[y*KernelSize+x]
						envSum += e
					}
				}
				norm := 0.0
				for i := range g {
					g[i] -= sum / envSum * env[i]
					norm += g[i] * g[i]
				}
				norm = math.Sqrt(norm)
				for _, v := range g {
					out = append(out, float32(math.Round(v/norm*4096)/4096))
				}
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
//	x    = AveragePool8x8(Cast(frame)) * 1/255 - 0.5      [1,1,18,32]
//	f    = Conv(x, gabor, stride 2, pad 11)               [1,Filters,9,16]
//	h'   = Decay*h + (1-Decay)*f                          out.h
//	e2   = per (scale, orientation): even^2 + odd^2       [1,24,9,16]
//	features = Concat(Relu(h'), Relu(-h'), e2)            [1,Channels,9,16]
//	gain = 1 + 0.1*tanh(modulation@wm + perspective@wp)   [1,1]
//	r    = Exp(sum_c features[c, position] * W[c] + b) * gain   responses [1,N]
//
// (the batch dimension, 1 above, is dynamic: Evaluate runs many rows).
func graph(p params) onnxbuild.Graph {
	n := int64(p.neurons)
	const batch = onnxbuild.Dynamic
	g := onnxbuild.Graph{
		Name: "twinrig_default",
		Inputs: []onnxbuild.ValueInfo{
			{Name: "frame", Type: onnxbuild.Uint8, Shape: []int64{batch, 1, Height, Width}},
			{Name: "perspective", Type: onnxbuild.Float, Shape: []int64{batch, 2}},
			{Name: "modulation", Type: onnxbuild.Float, Shape: []int64{batch, 2}},
			{Name: StateInput, Type: onnxbuild.Float, Shape: []int64{batch, Filters, MapHeight, MapWidth}},
		},
		Outputs: []onnxbuild.ValueInfo{
			{Name: "responses", Type: onnxbuild.Float, Shape: []int64{batch, n}},
			{Name: StateOutput, Type: onnxbuild.Float, Shape: []int64{batch, Filters, MapHeight, MapWidth}},
			{Name: FeaturesOutput, Type: onnxbuild.Float, Shape: []int64{batch, Channels, MapHeight, MapWidth}},
		},
		Initializers: []onnxbuild.Tensor{
			// Reshape shapes: 0 copies the batch dimension.
			onnxbuild.Int64Tensor("const.pairs_shape", []int64{6}, []int64{0, Scales, 2, Orientations, MapHeight, MapWidth}),
			onnxbuild.Int64Tensor("const.energy_shape", []int64{4}, []int64{0, Scales * Orientations, MapHeight, MapWidth}),
			onnxbuild.Int64Tensor("const.positions_shape", []int64{3}, []int64{0, Channels, Positions}),
			onnxbuild.Int64Tensor("const.axis2", []int64{1}, []int64{2}),
			scalar("const.inv255", 1.0/255),
			scalar("const.half", 0.5),
			scalar("const.decay", Decay),
			scalar("const.one_minus_decay", 1-Decay),
			scalar("const.gain", ModulationGain),
			scalar("const.one", 1),
			onnxbuild.FloatTensor("gabor.weight", []int64{Filters, 1, KernelSize, KernelSize}, p.gabor),
			onnxbuild.FloatTensor("modulation.weight", []int64{2, 1}, p.modulationW),
			onnxbuild.FloatTensor("perspective.weight", []int64{2, 1}, p.perspectW),
			onnxbuild.Int64Tensor(ReadoutPosition, []int64{n}, p.position),
			onnxbuild.FloatTensor(ReadoutWeight, []int64{n, Channels}, p.readoutW),
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
		onnxbuild.AttrInts("kernel_shape", KernelSize, KernelSize), onnxbuild.AttrInts("pads", pad, pad, pad, pad),
		onnxbuild.AttrInts("strides", Stride, Stride))

	g.Add("Mul", in(StateInput, "const.decay"), in("state.kept"))
	g.Add("Mul", in("gabor.out", "const.one_minus_decay"), in("state.new"))
	g.Add("Add", in("state.kept", "state.new"), in(StateOutput))

	g.Add("Relu", in(StateOutput), in("features.pos"))
	g.Add("Neg", in(StateOutput), in("state.neg"))
	g.Add("Relu", in("state.neg"), in("features.neg"))
	g.Add("Mul", in(StateOutput, StateOutput), in("state.sq"))
	g.Add("Reshape", in("state.sq", "const.pairs_shape"), in("state.sq.pairs"))
	g.Add("ReduceSum", in("state.sq.pairs", "const.axis2"), in("energy.pairs"), onnxbuild.AttrInt("keepdims", 0))
	g.Add("Reshape", in("energy.pairs", "const.energy_shape"), in("features.energy"))
	g.Add("Concat", in("features.pos", "features.neg", "features.energy"), in(FeaturesOutput), onnxbuild.AttrInt("axis", 1))

	g.Add("MatMul", in("modulation", "modulation.weight"), in("gain.m"))
	g.Add("MatMul", in("perspective", "perspective.weight"), in("gain.p"))
	g.Add("Add", in("gain.m", "gain.p"), in("gain.sum"))
	g.Add("Tanh", in("gain.sum"), in("gain.tanh"))
	g.Add("Mul", in("gain.tanh", "const.gain"), in("gain.scaled"))
	g.Add("Add", in("gain.scaled", "const.one"), in("gain"))

	// The readout: each neuron's Channels features at its position, a dot
	// product with its weights (positions first, so that every reduction
	// runs over contiguous values).
	g.Add("Reshape", in(FeaturesOutput, "const.positions_shape"), in("features.flat"))
	g.Add("Transpose", in("features.flat"), in("features.by_position"), onnxbuild.AttrInts("perm", 0, 2, 1))
	g.Add("Gather", in("features.by_position", ReadoutPosition), in("readout.features"), onnxbuild.AttrInt("axis", 1))
	g.Add("Mul", in("readout.features", ReadoutWeight), in("readout.terms"))
	g.Add("ReduceSum", in("readout.terms", "const.axis2"), in("readout.lin"), onnxbuild.AttrInt("keepdims", 0))
	g.Add("Add", in("readout.lin", ReadoutBias), in("readout.pre"))
	g.Add("Exp", in("readout.pre"), in("readout.exp"))
	g.Add("Mul", in("readout.exp", "gain"), in("responses"))
	return g
}
