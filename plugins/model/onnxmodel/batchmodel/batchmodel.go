// Package batchmodel builds small recurrent models that fit the model
// contract with a dynamic batch dimension (or, on request, batch 1), for
// tests and benchmarks of batched candidate evaluation. Their weights are
// random and their predictions mean nothing; their cost per step is like
// that of the built-in default model at the default options.
//
// One step: the frame is averaged over Pool x Pool blocks, scaled to
// -0.5..0.5 and filtered by Filters random 3 x 3 kernels with a ReLU; the
// state "in.h" decays towards that map (out.h = 0.7 in.h + 0.3 map), which
// is also the "features" output [B, Filters, H/Pool, W/Pool]; the
// responses are exp(out.h W + b) times a behaviour gain within 1 +- 0.1.
package batchmodel

import (
	"fmt"
	"math/rand/v2"

	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
)

// Options size a model; zero fields take the defaults in brackets.
type Options struct {
	Width, Height int    // frame size (256 x 144); multiples of Pool
	Pool          int    // pooling block (8)
	Filters       int    // core channels (8)
	Neurons       int    // responses (100)
	Seed          uint64 // weights (1)
	// Batch1 fixes the batch dimension to 1 instead of leaving it dynamic.
	Batch1 bool
}

func (o Options) withDefaults() Options {
	if o.Width == 0 {
		o.Width = 256
	}
	if o.Height == 0 {
		o.Height = 144
	}
	if o.Pool == 0 {
		o.Pool = 8
	}
	if o.Filters == 0 {
		o.Filters = 8
	}
	if o.Neurons == 0 {
		o.Neurons = 100
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Build returns the encoded ONNX model.
func Build(opts Options) ([]byte, error) {
	o := opts.withDefaults()
	if o.Width < 0 || o.Height < 0 || o.Pool < 0 || o.Filters < 0 || o.Neurons < 0 ||
		o.Width%o.Pool != 0 || o.Height%o.Pool != 0 {
		return nil, fmt.Errorf("batchmodel: options %+v: sizes must be positive and the frame a multiple of the pool", opts)
	}
	h, w := int64(o.Height/o.Pool), int64(o.Width/o.Pool)
	k, n := int64(o.Filters), int64(o.Neurons)
	feat := k * h * w
	batch := onnxbuild.Dynamic
	if o.Batch1 {
		batch = 1
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6261746368))
	uniform := func(count int64, scale float32) []float32 {
		v := make([]float32, count)
		for i := range v {
			v[i] = scale * (2*rng.Float32() - 1)
		}
		return v
	}
	scalar := func(name string, v float32) onnxbuild.Tensor { return onnxbuild.FloatTensor(name, nil, []float32{v}) }
	f := onnxbuild.Float
	g := onnxbuild.Graph{
		Name: "batchmodel",
		Inputs: []onnxbuild.ValueInfo{
			{Name: "frame", Type: onnxbuild.Uint8, Shape: []int64{batch, 1, int64(o.Height), int64(o.Width)}},
			{Name: "perspective", Type: f, Shape: []int64{batch, 2}},
			{Name: "modulation", Type: f, Shape: []int64{batch, 2}},
			{Name: "in.h", Type: f, Shape: []int64{batch, feat}},
		},
		Outputs: []onnxbuild.ValueInfo{
			{Name: "responses", Type: f, Shape: []int64{batch, n}},
			{Name: "features", Type: f, Shape: []int64{batch, k, h, w}},
			{Name: "out.h", Type: f, Shape: []int64{batch, feat}},
		},
		Initializers: []onnxbuild.Tensor{
			onnxbuild.FloatTensor("conv.w", []int64{k, 1, 3, 3}, uniform(k*9, 1)),
			onnxbuild.FloatTensor("readout.w", []int64{feat, n}, uniform(feat*n, 2/float32(feat))),
			onnxbuild.FloatTensor("readout.b", []int64{n}, uniform(n, 0.5)),
			onnxbuild.FloatTensor("gain.wp", []int64{2, n}, uniform(2*n, 1)),
			onnxbuild.FloatTensor("gain.wm", []int64{2, n}, uniform(2*n, 1)),
			onnxbuild.Int64Tensor("features.shape", []int64{4}, []int64{-1, k, h, w}),
			scalar("inv255", 1.0/255), scalar("half", 0.5), scalar("decay", 0.7), scalar("fresh", 0.3),
			scalar("gain.scale", 0.1), scalar("one", 1),
		},
	}
	in := func(names ...string) []string { return names }
	p := int64(o.Pool)
	g.Add("Cast", in("frame"), in("frame.f"), onnxbuild.AttrInt("to", int64(f)))
	g.Add("AveragePool", in("frame.f"), in("pooled.raw"), onnxbuild.AttrInts("kernel_shape", p, p), onnxbuild.AttrInts("strides", p, p))
	g.Add("Mul", in("pooled.raw", "inv255"), in("pooled.unit"))
	g.Add("Sub", in("pooled.unit", "half"), in("pooled"))
	g.Add("Conv", in("pooled", "conv.w"), in("conv"), onnxbuild.AttrInts("pads", 1, 1, 1, 1))
	g.Add("Relu", in("conv"), in("conv.relu"))
	g.Add("Flatten", in("conv.relu"), in("core"), onnxbuild.AttrInt("axis", 1))
	g.Add("Mul", in("in.h", "decay"), in("kept"))
	g.Add("Mul", in("core", "fresh"), in("new"))
	g.Add("Add", in("kept", "new"), in("out.h"))
	g.Add("Reshape", in("out.h", "features.shape"), in("features"))
	g.Add("MatMul", in("perspective", "gain.wp"), in("gain.p"))
	g.Add("MatMul", in("modulation", "gain.wm"), in("gain.m"))
	g.Add("Add", in("gain.p", "gain.m"), in("gain.sum"))
	g.Add("Tanh", in("gain.sum"), in("gain.tanh"))
	g.Add("Mul", in("gain.tanh", "gain.scale"), in("gain.scaled"))
	g.Add("Add", in("gain.scaled", "one"), in("gain"))
	g.Add("MatMul", in("out.h", "readout.w"), in("readout.lin"))
	g.Add("Add", in("readout.lin", "readout.b"), in("readout.pre"))
	g.Add("Exp", in("readout.pre"), in("readout.exp"))
	g.Add("Mul", in("readout.exp", "gain"), in("responses"))
	m := onnxbuild.Model{ProducerName: "twinrig batchmodel", Graph: g,
		Metadata: map[string]string{"twinrig.contract": "1"}}
	return m.Marshal()
}
