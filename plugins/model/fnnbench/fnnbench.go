package fnnbench

import (
	"fmt"
	"math"

	"github.com/twinrig/twinrig/plugins/model/internal/splitmix"
	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
	"github.com/twinrig/twinrig/rig"
)

// Sizes of the benchmark model (the foundation model's).
const (
	// Height and Width are the frame size.
	Height, Width = 144, 256
	// RetinaHeight and RetinaWidth are the resampled input of the core.
	RetinaHeight, RetinaWidth = 128, 192
	// MapHeight and MapWidth are the recurrent map's size.
	MapHeight, MapWidth = 16, 24
	// Hidden is the recurrent cell's channel count (h and c).
	Hidden = 1024
	// Features is the readout's feature vector length per neuron.
	Features = 512
	// ModulationHidden is the modulation LSTM's size.
	ModulationHidden = 64

	// DefaultNeurons is the neuron count when Options.Neurons is 0: one
	// MICrONS scan.
	DefaultNeurons = 10000
	// MaxNeurons bounds Options.Neurons (about 1 GB of readout weights).
	MaxNeurons = 500000
)

// Options select the model's size and random weights.
type Options struct {
	// Neurons is the number of responses, 1..MaxNeurons; 0 means
	// DefaultNeurons.
	Neurons int
	// Seed selects the weights; 0 means 1.
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

// Stats are a built model's sizes.
type Stats struct {
	// Parameters counts the weights and biases (constants such as the
	// sampling grid, gather indices and bilinear weights excluded).
	Parameters int64
	// ReadoutParameters is the part of Parameters in the per-neuron
	// readout (feature weights and biases).
	ReadoutParameters int64
	// StateTensors and StateFloats describe the recurrent state (one set).
	StateTensors int
	StateFloats  int64
	// MACs counts the multiply-adds of Conv and MatMul nodes per frame.
	MACs int64
}

// Build returns the benchmark model as ONNX bytes (IR version 8, opset 17).
// The same options always give the same bytes. A Neurons value out of
// range gives an error wrapping rig.ErrInvalid.
func Build(opts Options) ([]byte, error) {
	b, err := build(opts)
	if err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	m := onnxbuild.Model{
		ProducerName:    "twinrig fnnbench",
		ProducerVersion: "1",
		DocString: fmt.Sprintf("random-weight stand-in with the foundation model's sizes for benchmarks: %d neurons, seed %d",
			o.Neurons, o.Seed),
		Graph: b.g,
	}
	return m.Marshal()
}

// Describe returns the sizes of the model Build would return for opts.
func Describe(opts Options) (Stats, error) {
	b, err := build(opts)
	if err != nil {
		return Stats{}, err
	}
	return b.stats, nil
}

type builder struct {
	g       onnxbuild.Graph
	rng     *splitmix.Source
	stats   Stats
	readout bool // count new parameters as readout parameters
}

// next draws from splitmix64.
func (b *builder) next() uint64 { return b.rng.Next() }

// uniform returns a value uniform in [-a, a), computed with correctly
// rounded operations only, so it is the same on every platform.
func (b *builder) uniform(a float64) float32 {
	u := float64(b.next()>>11) / (1 << 53)
	return float32((2*u - 1) * a)
}

func product(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// param adds a random parameter tensor, uniform with variance gain/fanIn.
func (b *builder) param(name string, dims []int64, fanIn int64, gain float64) string {
	n := product(dims)
	data := make([]float32, n)
	a := math.Sqrt(3 * gain / float64(fanIn))
	for i := range data {
		data[i] = b.uniform(a)
	}
	b.g.Initializers = append(b.g.Initializers, onnxbuild.FloatTensor(name, dims, data))
	b.stats.Parameters += n
	if b.readout {
		b.stats.ReadoutParameters += n
	}
	return name
}

func (b *builder) constFloat(name string, dims []int64, data []float32) string {
	b.g.Initializers = append(b.g.Initializers, onnxbuild.FloatTensor(name, dims, data))
	return name
}

func (b *builder) constInt(name string, data ...int64) string {
	b.g.Initializers = append(b.g.Initializers, onnxbuild.Int64Tensor(name, []int64{int64(len(data))}, data))
	return name
}

func (b *builder) op(opType string, inputs []string, output string, attrs ...onnxbuild.Attribute) string {
	return b.g.Add(opType, inputs, []string{output}, attrs...)
}

func names(s ...string) []string { return s }

// conv adds a Conv with a random weight (and bias), k x k kernel, output
// size oh x ow, and counts its multiply-adds.
func (b *builder) conv(name, x string, cin, cout, k, stride, pad, groups, oh, ow int64, bias bool) string {
	in := names(x, b.param(name+".weight", []int64{cout, cin / groups, k, k}, cin/groups*k*k, 2))
	if bias {
		in = append(in, b.param(name+".bias", []int64{cout}, 30, 1))
	}
	b.stats.MACs += oh * ow * cout * (cin / groups) * k * k
	return b.op("Conv", in, name,
		onnxbuild.AttrInts("kernel_shape", k, k), onnxbuild.AttrInts("strides", stride, stride),
		onnxbuild.AttrInts("pads", pad, pad, pad, pad), onnxbuild.AttrInt("group", groups))
}

func (b *builder) matmul(name, x string, rows, in, out int64) string {
	b.stats.MACs += rows * in * out
	return b.op("MatMul", names(x, b.param(name+".weight", []int64{in, out}, in, 1)), name)
}

// state declares a state pair in.name -> out.name of the given shape and
// returns the input's name.
func (b *builder) state(name string, shape []int64) string {
	b.g.Inputs = append(b.g.Inputs, onnxbuild.ValueInfo{Name: "in." + name, Type: onnxbuild.Float, Shape: shape})
	b.g.Outputs = append(b.g.Outputs, onnxbuild.ValueInfo{Name: "out." + name, Type: onnxbuild.Float, Shape: shape})
	b.stats.StateTensors++
	b.stats.StateFloats += product(shape)
	return "in." + name
}

// temporal adds a causal temporal convolution (kernel 3 in time, 3 x 3 in
// space) over x [1,c,h,w]: the zero-padded input and the two previous ones
// (state) each pass a grouped Conv, summed, then Relu and a residual.
func (b *builder) temporal(name, x string, c, h, w, groups int64) string {
	shape := []int64{1, c, h + 2, w + 2}
	prev1, prev2 := b.state(name+".prev1", shape), b.state(name+".prev2", shape)
	xp := b.op("Pad", names(x, "const.pad1"), name+".padded")
	t0 := b.conv(name+".t0", xp, c, c, 3, 1, 0, groups, h, w, true)
	t1 := b.conv(name+".t1", prev1, c, c, 3, 1, 0, groups, h, w, false)
	t2 := b.conv(name+".t2", prev2, c, c, 3, 1, 0, groups, h, w, false)
	s := b.op("Add", names(t0, t1), name+".sum1")
	s = b.op("Add", names(s, t2), name+".sum")
	s = b.op("Relu", names(s), name+".relu")
	b.op("Identity", names(prev1), "out."+name+".prev2")
	b.op("Identity", names(xp), "out."+name+".prev1")
	return b.op("Add", names(x, s), name)
}

// lstmGates splits z into the four gates along axis and returns the next
// h and c: c' = s(f) c + s(i) tanh(g), h' = s(o) tanh(c').
func (b *builder) lstmGates(name, z, c string, axis int64, sizes string) (h2, c2 string) {
	gates := names(name+".i", name+".f", name+".g", name+".o")
	b.g.Add("Split", names(z, sizes), gates, onnxbuild.AttrInt("axis", axis))
	i := b.op("Sigmoid", names(gates[0]), name+".si")
	f := b.op("Sigmoid", names(gates[1]), name+".sf")
	g := b.op("Tanh", names(gates[2]), name+".tg")
	o := b.op("Sigmoid", names(gates[3]), name+".so")
	keep := b.op("Mul", names(f, c), name+".keep")
	write := b.op("Mul", names(i, g), name+".write")
	c2 = b.op("Add", names(keep, write), "out."+name+".c")
	tc := b.op("Tanh", names(c2), name+".tc")
	h2 = b.op("Mul", names(o, tc), "out."+name+".h")
	return h2, c2
}

func build(opts Options) (*builder, error) {
	opts = opts.withDefaults()
	if opts.Neurons < 1 || opts.Neurons > MaxNeurons {
		return nil, fmt.Errorf("fnnbench: neurons %d, expected 1..%d: %w", opts.Neurons, MaxNeurons, rig.ErrInvalid)
	}
	n := int64(opts.Neurons)
	b := &builder{rng: splitmix.New(opts.Seed)}
	b.g.Name = "twinrig_fnnbench"
	b.g.Inputs = []onnxbuild.ValueInfo{
		{Name: "frame", Type: onnxbuild.Uint8, Shape: []int64{1, 1, Height, Width}},
		{Name: "perspective", Type: onnxbuild.Float, Shape: []int64{1, 2}},
		{Name: "modulation", Type: onnxbuild.Float, Shape: []int64{1, 2}},
	}
	b.g.Outputs = []onnxbuild.ValueInfo{{Name: "responses", Type: onnxbuild.Float, Shape: []int64{1, n}}}
	b.constFloat("const.inv255", nil, []float32{1.0 / 255})
	b.constFloat("const.half", nil, []float32{0.5})
	b.constFloat("const.shift", nil, []float32{0.05})
	b.constFloat("const.attn_scale", nil, []float32{0.125})
	b.constInt("const.pad1", 0, 0, 1, 1, 0, 0, 1, 1)

	// Perspective: GridSample onto the retina, shifted by the pupil.
	grid := make([]float32, 0, RetinaHeight*RetinaWidth*2)
	for y := range RetinaHeight {
		for x := range RetinaWidth {
			// The central 192 of 256 columns, all rows, in [-1, 1]
			// coordinates: multiples of 2^-8, exact in float32.
			gx := (float64(x) - (RetinaWidth-1)/2.0) / (Width / 2.0)
			gy := (float64(y) - (RetinaHeight-1)/2.0) / (RetinaHeight / 2.0) * RetinaHeight / Height
			grid = append(grid, float32(gx), float32(gy))
		}
	}
	b.constFloat("const.grid", []int64{1, RetinaHeight, RetinaWidth, 2}, grid)
	b.op("Cast", names("frame"), "frame.f", onnxbuild.AttrInt("to", int64(onnxbuild.Float)))
	b.op("Mul", names("frame.f", "const.inv255"), "frame.unit")
	b.op("Sub", names("frame.unit", "const.half"), "frame.centred")
	p := b.matmul("perspective.mlp", "perspective", 1, 2, 2)
	p = b.op("Tanh", names(p), "perspective.tanh")
	p = b.op("Mul", names(p, "const.shift"), "perspective.shift")
	p = b.op("Reshape", names(p, b.constInt("const.shape_shift", 1, 1, 1, 2)), "perspective.shift4")
	g := b.op("Add", names("const.grid", p), "retina.grid")
	x := b.op("GridSample", names("frame.centred", g), "retina",
		onnxbuild.AttrInt("align_corners", 0), onnxbuild.AttrString("mode", "bilinear"),
		onnxbuild.AttrString("padding_mode", "zeros"))

	// Feedforward core.
	x = b.conv("stem.conv1", x, 1, 32, 7, 2, 3, 1, 64, 96, true)
	x = b.op("Relu", names(x), "stem.relu1")
	x = b.conv("stem.conv2", x, 32, 128, 1, 1, 0, 1, 64, 96, true)
	x = b.op("Relu", names(x), "stem.relu2")
	x = b.temporal("core.t1a", x, 128, 64, 96, 8)
	x = b.temporal("core.t1b", x, 128, 64, 96, 8)
	x = b.conv("core.down1", x, 128, 256, 2, 2, 0, 1, 32, 48, true)
	x = b.op("Relu", names(x), "core.down1.relu")
	x = b.temporal("core.t2a", x, 256, 32, 48, 4)
	x = b.temporal("core.t2b", x, 256, 32, 48, 4)
	x = b.conv("core.down2", x, 256, 512, 2, 2, 0, 1, 16, 24, true)
	x = b.op("Relu", names(x), "core.down2.relu")
	x = b.temporal("core.t3a", x, 512, 16, 24, 8)
	x = b.temporal("core.t3b", x, 512, 16, 24, 8)
	x = b.conv("core.proj", x, 512, 128, 1, 1, 0, 1, MapHeight, MapWidth, true)

	// Modulation: MLP, LSTM(64), added to the core's output.
	mh := b.state("mod.h", []int64{1, ModulationHidden})
	mc := b.state("mod.c", []int64{1, ModulationHidden})
	m := b.matmul("mod.mlp", "modulation", 1, 2, 16)
	m = b.op("Tanh", names(m), "mod.mlp.tanh")
	m = b.op("Concat", names(m, mh), "mod.in", onnxbuild.AttrInt("axis", 1))
	m = b.matmul("mod.lstm", m, 1, 16+ModulationHidden, 4*ModulationHidden)
	m = b.op("Add", names(m, b.param("mod.lstm.bias", []int64{4 * ModulationHidden}, 30, 1)), "mod.z")
	mh2, _ := b.lstmGates("mod", m, mc, 1, b.constInt("const.split_mod", ModulationHidden, ModulationHidden, ModulationHidden, ModulationHidden))
	mx := b.matmul("mod.out", mh2, 1, ModulationHidden, 128)
	mx = b.op("Reshape", names(mx, b.constInt("const.shape_mod", 1, 128, 1, 1)), "mod.out4")
	x = b.op("Add", names(x, mx), "rec.x")

	// Recurrent cell: attention over positions, then LSTM gates.
	const pos = MapHeight * MapWidth
	rh := b.state("rec.h", []int64{1, Hidden, MapHeight, MapWidth})
	rc := b.state("rec.c", []int64{1, Hidden, MapHeight, MapWidth})
	u := b.op("Concat", names(x, rh), "rec.u", onnxbuild.AttrInt("axis", 1))
	const cu = 128 + Hidden
	q := b.conv("rec.q", u, cu, 64, 1, 1, 0, 1, MapHeight, MapWidth, false)
	k := b.conv("rec.k", u, cu, 64, 1, 1, 0, 1, MapHeight, MapWidth, false)
	v := b.conv("rec.v", u, cu, 256, 1, 1, 0, 1, MapHeight, MapWidth, false)
	shape64 := b.constInt("const.shape_qk", 1, 64, pos)
	q = b.op("Reshape", names(q, shape64), "rec.q3")
	q = b.op("Transpose", names(q), "rec.qt", onnxbuild.AttrInts("perm", 0, 2, 1))
	k = b.op("Reshape", names(k, shape64), "rec.k3")
	s := b.op("MatMul", names(q, k), "rec.scores")
	b.stats.MACs += pos * pos * 64
	s = b.op("Mul", names(s, "const.attn_scale"), "rec.scaled")
	a := b.op("Softmax", names(s), "rec.attn", onnxbuild.AttrInt("axis", -1))
	a = b.op("Transpose", names(a), "rec.attn_t", onnxbuild.AttrInts("perm", 0, 2, 1))
	v = b.op("Reshape", names(v, b.constInt("const.shape_v", 1, 256, pos)), "rec.v3")
	att := b.op("MatMul", names(v, a), "rec.att3")
	b.stats.MACs += pos * pos * 256
	att = b.op("Reshape", names(att, b.constInt("const.shape_att", 1, 256, MapHeight, MapWidth)), "rec.att")
	gin := b.op("Concat", names(u, att), "rec.gates_in", onnxbuild.AttrInt("axis", 1))
	z := b.conv("rec.gates", gin, cu+256, 4*Hidden, 1, 1, 0, 4, MapHeight, MapWidth, true)
	h2, _ := b.lstmGates("rec", z, rc, 1, b.constInt("const.split_rec", Hidden, Hidden, Hidden, Hidden))

	// Readout: features, bilinear reads at fixed positions, feature
	// weights, bias, exp.
	f := b.conv("readout.features", h2, Hidden, Features, 1, 1, 0, 1, MapHeight, MapWidth, true)
	f = b.op("Reshape", names(f, b.constInt("const.shape_feat", Features, pos)), "readout.map")
	f = b.op("Transpose", names(f), "readout.rows", onnxbuild.AttrInts("perm", 1, 0))
	idx, wts := b.positions(n)
	var acc string
	for c := range 4 {
		gname := fmt.Sprintf("readout.gather%d", c)
		gv := b.g.Add("Gather", names(f, b.constIntN(gname+".index", []int64{n}, idx[c])), names(gname), onnxbuild.AttrInt("axis", 0))
		gv = b.op("Mul", names(gv, b.constFloat(gname+".weight", []int64{n, 1}, wts[c])), gname+".weighted")
		if acc == "" {
			acc = gv
		} else {
			acc = b.op("Add", names(acc, gv), fmt.Sprintf("readout.sum%d", c))
		}
	}
	b.readout = true
	r := b.op("Mul", names(acc, b.param("readout.feature_weight", []int64{n, Features}, Features, 0.25)), "readout.prod")
	b.stats.MACs += n * Features
	r = b.op("ReduceSum", names(r, b.constInt("const.axis1", 1)), "readout.dot", onnxbuild.AttrInt("keepdims", 0))
	r = b.op("Add", names(r, b.param("readout.bias", []int64{n}, 30, 1)), "readout.pre")
	b.readout = false
	r = b.op("Exp", names(r), "readout.exp")
	b.op("Reshape", names(r, b.constInt("const.shape_out", 1, n)), "responses")
	return b, nil
}

func (b *builder) constIntN(name string, dims []int64, data []int64) string {
	b.g.Initializers = append(b.g.Initializers, onnxbuild.Int64Tensor(name, dims, data))
	return name
}

// positions draws each neuron's position on the map on a grid of 1/256
// and returns the four neighbours' row indices (y*MapWidth + x into the
// [positions, Features] map) and bilinear weights, all exact.
func (b *builder) positions(n int64) (idx [4][]int64, wts [4][]float32) {
	for c := range 4 {
		idx[c] = make([]int64, n)
		wts[c] = make([]float32, n)
	}
	for i := range n {
		// Positions in [0, size-1) so that both neighbours exist.
		px := float64(b.next()>>32%uint64((MapWidth-1)*256)) / 256
		py := float64(b.next()>>32%uint64((MapHeight-1)*256)) / 256
		x0, y0 := int64(px), int64(py)
		fx, fy := px-float64(x0), py-float64(y0)
		for c, d := range [4][2]int64{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
			idx[c][i] = (y0+d[0])*MapWidth + x0 + d[1]
			wy, wx := 1-fy, 1-fx
			if d[0] == 1 {
				wy = fy
			}
			if d[1] == 1 {
				wx = fx
			}
			wts[c][i] = float32(wy * wx)
		}
	}
	return idx, wts
}
