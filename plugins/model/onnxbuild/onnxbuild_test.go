package onnxbuild

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// sampleModel uses every feature of the builder.
func sampleModel() Model {
	g := Graph{
		Name: "sample",
		Inputs: []ValueInfo{
			{Name: "frame", Type: Uint8, Shape: []int64{1, 1, 4, 6}},
			{Name: "in.h", Type: Float, Shape: []int64{Dynamic, 3}},
			{Name: "scalar", Type: Float},
		},
		Outputs: []ValueInfo{
			{Name: "responses", Type: Float, Shape: []int64{1, 3}},
		},
		Initializers: []Tensor{
			FloatTensor("w", []int64{2, 3}, []float32{1, -2, 3.5, 0, float32(math.Inf(1)), -1e-30}),
			FloatTensor("s", nil, []float32{0.25}),
			Int64Tensor("shape", []int64{2}, []int64{1, -1}),
			FloatTensor("empty", []int64{0, 4}, []float32{}),
		},
	}
	g.Add("Cast", []string{"frame"}, []string{"x"}, AttrInt("to", int64(Float)))
	g.Nodes = append(g.Nodes, Node{
		Name: "pool", OpType: "AveragePool", Inputs: []string{"x", ""}, Outputs: []string{"p"},
		Attrs: []Attribute{
			AttrInts("kernel_shape", 2, 2),
			AttrInts("pads", -1, 0),
			AttrFloat("alpha", -0.5),
			AttrFloats("scales", 1, 2.5),
			AttrString("auto_pad", "NOTSET"),
			AttrInt("zero", 0),
		},
	})
	return Model{ProducerName: "test", ProducerVersion: "0", DocString: "doc", Graph: g}
}

func TestMarshalRoundTrip(t *testing.T) {
	m := sampleModel()
	b, err := m.Marshal()
	require.NoError(t, err)
	got, err := decodeModel(b)
	require.NoError(t, err)

	want := m
	want.IRVersion, want.Opset = DefaultIRVersion, DefaultOpset
	want.Graph.Nodes[0].Name = ""
	normalize(&want)
	normalize(&got)
	require.Equal(t, want, got)

	again, err := m.Marshal()
	require.NoError(t, err)
	require.Equal(t, b, again, "two encodings of one model differ")
}

func TestMarshalKeepsExplicitVersions(t *testing.T) {
	m := sampleModel()
	m.IRVersion, m.Opset = 7, 13
	b, err := m.Marshal()
	require.NoError(t, err)
	got, err := decodeModel(b)
	require.NoError(t, err)
	require.Equal(t, int64(7), got.IRVersion)
	require.Equal(t, int64(13), got.Opset)
}

func TestMarshalRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Model)
		want   []string
	}{
		{"empty input name", func(m *Model) { m.Graph.Inputs[0].Name = "" }, []string{"graph input 0: empty name"}},
		{"bad output dim", func(m *Model) { m.Graph.Outputs[0].Shape = []int64{1, -7} }, []string{`"responses"`, "-7"}},
		{"no elem type", func(m *Model) { m.Graph.Outputs[0].Type = 0 }, []string{`"responses"`, "element type 0"}},
		{"short data", func(m *Model) { m.Graph.Initializers[0].Floats = []float32{1} }, []string{`"w"`, "1 values", "expected 6"}},
		{"wrong slice", func(m *Model) { m.Graph.Initializers[2].Type = Float }, []string{`"shape"`, "0 values", "expected 2"}},
		{"unsupported tensor type", func(m *Model) { m.Graph.Initializers[1].Type = Uint8 }, []string{`"s"`, "uint8"}},
		{"negative tensor dim", func(m *Model) { m.Graph.Initializers[0].Dims = []int64{-2, 3} }, []string{`"w"`, "-2"}},
		{"empty op", func(m *Model) { m.Graph.Nodes[0].OpType = "" }, []string{"node 0", "empty op type"}},
		{"no outputs", func(m *Model) { m.Graph.Nodes[1].Outputs = nil }, []string{"node 1 (AveragePool): no outputs"}},
		{"bad attr type", func(m *Model) { m.Graph.Nodes[1].Attrs[0].Type = 5 }, []string{`"kernel_shape"`, "unsupported type 5"}},
		{"empty attr name", func(m *Model) { m.Graph.Nodes[0].Attrs[0].Name = "" }, []string{"attribute 0: empty name"}},
		{"negative opset", func(m *Model) { m.Opset = -1 }, []string{"opset -1"}},
		{"two problems", func(m *Model) {
			m.Graph.Inputs[1].Name = ""
			m.Graph.Initializers[0].Floats = nil
		}, []string{"graph input 1: empty name", `initializer "w"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleModel()
			tc.modify(&m)
			b, err := m.Marshal()
			require.Error(t, err)
			require.Nil(t, b)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// FuzzMarshalRoundTrip builds models from fuzzed values and checks that the
// encoding decodes back to the same model and re-encodes to the same bytes.
func FuzzMarshalRoundTrip(f *testing.F) {
	f.Add("x", "Relu", int64(3), float32(1.5), int64(-4), "s", []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add("", "", int64(0), float32(0), int64(0), "", []byte{})
	f.Add("é\x00", "Op", int64(-1), float32(math.NaN()), int64(math.MinInt64), "\xff", []byte{0xff, 0xff, 0xc0, 0x7f})
	f.Fuzz(func(t *testing.T, name, op string, dim int64, fv float32, iv int64, s string, data []byte) {
		floats := make([]float32, len(data)/4)
		for i := range floats {
			floats[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		m := Model{Graph: Graph{
			Name:         name,
			Inputs:       []ValueInfo{{Name: name, Type: Float, Shape: []int64{dim, 2}}},
			Outputs:      []ValueInfo{{Name: op, Type: ElemType(1 + iv&15), Shape: []int64{dim}}},
			Initializers: []Tensor{FloatTensor(name+".w", []int64{int64(len(floats))}, floats)},
			Nodes: []Node{{OpType: op, Inputs: []string{name, s}, Outputs: []string{op}, Attrs: []Attribute{
				AttrInt("i", iv), AttrFloat("f", fv), AttrString("s", s),
				AttrFloats("fs", floats...), AttrInts("is", dim, iv),
			}}},
		}}
		b, err := m.Marshal()
		if err != nil {
			// Only invalid inputs may fail, and they must say why.
			require.True(t, name == "" || op == "" || dim < Dynamic, "unexpected error: %v", err)
			return
		}
		got, err := decodeModel(b)
		require.NoError(t, err)
		again, err := got.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, again)
		require.Equal(t, name, got.Graph.Name)
		require.Len(t, got.Graph.Initializers, 1)
		require.Len(t, got.Graph.Initializers[0].Floats, len(floats))
		require.Equal(t, iv, got.Graph.Nodes[0].Attrs[0].I)
		require.Equal(t, math.Float32bits(fv), math.Float32bits(got.Graph.Nodes[0].Attrs[1].F))
	})
}

// normalize maps empty slices to nil so that decoded and built models compare.
func normalize(m *Model) {
	g := &m.Graph
	for i := range g.Inputs {
		if len(g.Inputs[i].Shape) == 0 {
			g.Inputs[i].Shape = nil
		}
	}
	for i := range g.Outputs {
		if len(g.Outputs[i].Shape) == 0 {
			g.Outputs[i].Shape = nil
		}
	}
	for i := range g.Initializers {
		t := &g.Initializers[i]
		if len(t.Dims) == 0 {
			t.Dims = nil
		}
		if len(t.Floats) == 0 {
			t.Floats = nil
		}
		if len(t.Int64s) == 0 {
			t.Int64s = nil
		}
	}
	for i := range g.Nodes {
		for j := range g.Nodes[i].Attrs {
			a := &g.Nodes[i].Attrs[j]
			if len(a.Floats) == 0 {
				a.Floats = nil
			}
			if len(a.Ints) == 0 {
				a.Ints = nil
			}
		}
	}
}

// ---- a minimal decoder for the subset Marshal writes (test only) ----------

type field struct {
	num protowire.Number
	v   uint64 // varint and fixed32 values
	b   []byte // bytes values
}

func fields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		f := field{num: num}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			return nil, fmt.Errorf("field %d: unexpected wire type %d", num, typ)
		}
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		out = append(out, f)
	}
	return out, nil
}

func decodeModel(b []byte) (Model, error) {
	var m Model
	fs, err := fields(b)
	if err != nil {
		return m, err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			m.IRVersion = int64(f.v)
		case 2:
			m.ProducerName = string(f.b)
		case 3:
			m.ProducerVersion = string(f.b)
		case 6:
			m.DocString = string(f.b)
		case 7:
			if m.Graph, err = decodeGraph(f.b); err != nil {
				return m, err
			}
		case 8:
			op, err := fields(f.b)
			if err != nil {
				return m, err
			}
			for _, o := range op {
				if o.num == 2 {
					m.Opset = int64(o.v)
				}
			}
		default:
			return m, fmt.Errorf("model: unexpected field %d", f.num)
		}
	}
	return m, nil
}

func decodeGraph(b []byte) (Graph, error) {
	var g Graph
	fs, err := fields(b)
	if err != nil {
		return g, err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			n, err := decodeNode(f.b)
			if err != nil {
				return g, err
			}
			g.Nodes = append(g.Nodes, n)
		case 2:
			g.Name = string(f.b)
		case 5:
			t, err := decodeTensor(f.b)
			if err != nil {
				return g, err
			}
			g.Initializers = append(g.Initializers, t)
		case 11, 12:
			v, err := decodeValueInfo(f.b)
			if err != nil {
				return g, err
			}
			if f.num == 11 {
				g.Inputs = append(g.Inputs, v)
			} else {
				g.Outputs = append(g.Outputs, v)
			}
		default:
			return g, fmt.Errorf("graph: unexpected field %d", f.num)
		}
	}
	return g, nil
}

func decodeNode(b []byte) (Node, error) {
	var n Node
	fs, err := fields(b)
	if err != nil {
		return n, err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			n.Inputs = append(n.Inputs, string(f.b))
		case 2:
			n.Outputs = append(n.Outputs, string(f.b))
		case 3:
			n.Name = string(f.b)
		case 4:
			n.OpType = string(f.b)
		case 5:
			a, err := decodeAttr(f.b)
			if err != nil {
				return n, err
			}
			n.Attrs = append(n.Attrs, a)
		default:
			return n, fmt.Errorf("node: unexpected field %d", f.num)
		}
	}
	return n, nil
}

func decodeAttr(b []byte) (Attribute, error) {
	var a Attribute
	fs, err := fields(b)
	if err != nil {
		return a, err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			a.Name = string(f.b)
		case 2:
			a.F = math.Float32frombits(uint32(f.v))
		case 3:
			a.I = int64(f.v)
		case 4:
			a.S = string(f.b)
		case 7:
			a.Floats = append(a.Floats, math.Float32frombits(uint32(f.v)))
		case 8:
			a.Ints = append(a.Ints, int64(f.v))
		case 20:
			a.Type = AttrType(f.v)
		default:
			return a, fmt.Errorf("attribute: unexpected field %d", f.num)
		}
	}
	return a, nil
}

func decodeTensor(b []byte) (Tensor, error) {
	var t Tensor
	fs, err := fields(b)
	if err != nil {
		return t, err
	}
	var raw []byte
	for _, f := range fs {
		switch f.num {
		case 1:
			t.Dims = append(t.Dims, int64(f.v))
		case 2:
			t.Type = ElemType(f.v)
		case 8:
			t.Name = string(f.b)
		case 9:
			raw = f.b
		default:
			return t, fmt.Errorf("tensor: unexpected field %d", f.num)
		}
	}
	switch t.Type {
	case Float:
		t.Floats = make([]float32, len(raw)/4)
		for i := range t.Floats {
			t.Floats[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case Int64:
		t.Int64s = make([]int64, len(raw)/8)
		for i := range t.Int64s {
			t.Int64s[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	default:
		return t, errors.New("tensor: unexpected type")
	}
	return t, nil
}

func decodeValueInfo(b []byte) (ValueInfo, error) {
	var v ValueInfo
	fs, err := fields(b)
	if err != nil {
		return v, err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			v.Name = string(f.b)
		case 2: // TypeProto
			typ, err := fields(f.b)
			if err != nil {
				return v, err
			}
			for _, tf := range typ {
				if tf.num != 1 {
					return v, fmt.Errorf("type: unexpected field %d", tf.num)
				}
				tensor, err := fields(tf.b)
				if err != nil {
					return v, err
				}
				for _, ff := range tensor {
					switch ff.num {
					case 1:
						v.Type = ElemType(ff.v)
					case 2:
						if v.Shape, err = decodeShape(ff.b); err != nil {
							return v, err
						}
					}
				}
			}
		default:
			return v, fmt.Errorf("value info: unexpected field %d", f.num)
		}
	}
	return v, nil
}

func decodeShape(b []byte) ([]int64, error) {
	dims, err := fields(b)
	if err != nil {
		return nil, err
	}
	var shape []int64
	for _, d := range dims {
		df, err := fields(d.b)
		if err != nil {
			return nil, err
		}
		if len(df) != 1 {
			return nil, fmt.Errorf("dimension with %d fields", len(df))
		}
		if df[0].num == 1 {
			shape = append(shape, int64(df[0].v))
		} else {
			shape = append(shape, Dynamic)
		}
	}
	return shape, nil
}

func TestMarshalRejectsTwoProducers(t *testing.T) {
	m := Model{Graph: Graph{
		Name:         "dup",
		Inputs:       []ValueInfo{{Name: "x", Type: Float, Shape: []int64{1}}},
		Outputs:      []ValueInfo{{Name: "y", Type: Float, Shape: []int64{1}}},
		Initializers: []Tensor{FloatTensor("c", []int64{1}, []float32{1}), FloatTensor("c", []int64{1}, []float32{2})},
	}}
	m.Graph.Add("Add", []string{"x", "c"}, []string{"y"})
	m.Graph.Add("Neg", []string{"x"}, []string{"x"})
	_, err := m.Marshal()
	require.ErrorContains(t, err, `value "c": produced by initializer 0 and by initializer 1`)
	require.ErrorContains(t, err, `value "x": produced by input 0 and by node 1 (Neg)`)
}
