package onnxbuild

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// Defaults written when a Model leaves IRVersion or Opset at zero.
const (
	// DefaultIRVersion is ONNX IR version 8 (ONNX 1.10 to 1.12).
	DefaultIRVersion int64 = 8
	// DefaultOpset is the default-domain operator set version 17.
	DefaultOpset int64 = 17
)

// Dynamic in a ValueInfo shape marks a dimension without a fixed size. It is
// encoded as a symbolic dimension (dim_param "d<index>").
const Dynamic int64 = -1

// ElemType is a tensor element type, numbered as TensorProto.DataType.
type ElemType int32

// The element types twinrig uses.
const (
	Float  ElemType = 1
	Uint8  ElemType = 2
	Int8   ElemType = 3
	Int32  ElemType = 6
	Int64  ElemType = 7
	Double ElemType = 11
)

// String returns the ONNX name of the type ("float", "uint8", ...), or
// "elem_type(N)" for types this package does not name.
func (t ElemType) String() string {
	switch t {
	case Float:
		return "float"
	case Uint8:
		return "uint8"
	case Int8:
		return "int8"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	case Double:
		return "double"
	}
	return "elem_type(" + strconv.Itoa(int(t)) + ")"
}

// AttrType is an attribute's type, numbered as AttributeProto.AttributeType.
type AttrType int32

// The attribute types this package encodes.
const (
	AttrTypeFloat  AttrType = 1
	AttrTypeInt    AttrType = 2
	AttrTypeString AttrType = 3
	AttrTypeFloats AttrType = 6
	AttrTypeInts   AttrType = 7
)

// ValueInfo declares a graph input or output: a tensor of Type with Shape.
// A nil or empty Shape declares a scalar (rank 0); a Dynamic entry declares a
// dimension of unknown size.
type ValueInfo struct {
	Name  string
	Type  ElemType
	Shape []int64
}

// Tensor is an initializer (a named constant). Type selects which data slice
// is used: Float uses Floats, Int64 uses Int64s. The data length must equal
// the product of Dims (1 for a scalar with no Dims).
type Tensor struct {
	Name   string
	Type   ElemType
	Dims   []int64
	Floats []float32
	Int64s []int64
}

// FloatTensor returns a float32 initializer. data is not copied.
func FloatTensor(name string, dims []int64, data []float32) Tensor {
	return Tensor{Name: name, Type: Float, Dims: dims, Floats: data}
}

// Int64Tensor returns an int64 initializer. data is not copied.
func Int64Tensor(name string, dims []int64, data []int64) Tensor {
	return Tensor{Name: name, Type: Int64, Dims: dims, Int64s: data}
}

// Attribute is one node attribute. Type selects which value field is used.
type Attribute struct {
	Name   string
	Type   AttrType
	F      float32
	I      int64
	S      string
	Floats []float32
	Ints   []int64
}

// AttrInt returns an int attribute.
func AttrInt(name string, v int64) Attribute {
	return Attribute{Name: name, Type: AttrTypeInt, I: v}
}

// AttrInts returns an ints attribute.
func AttrInts(name string, v ...int64) Attribute {
	return Attribute{Name: name, Type: AttrTypeInts, Ints: v}
}

// AttrFloat returns a float attribute.
func AttrFloat(name string, v float32) Attribute {
	return Attribute{Name: name, Type: AttrTypeFloat, F: v}
}

// AttrFloats returns a floats attribute.
func AttrFloats(name string, v ...float32) Attribute {
	return Attribute{Name: name, Type: AttrTypeFloats, Floats: v}
}

// AttrString returns a string attribute.
func AttrString(name, v string) Attribute {
	return Attribute{Name: name, Type: AttrTypeString, S: v}
}

// Node is one operator application in the default ("ai.onnx") domain.
// Name is optional.
type Node struct {
	Name    string
	OpType  string
	Inputs  []string
	Outputs []string
	Attrs   []Attribute
}

// Graph is a model's main graph. Nodes must be in topological order, as
// ONNX requires.
type Graph struct {
	Name         string
	Inputs       []ValueInfo
	Outputs      []ValueInfo
	Initializers []Tensor
	Nodes        []Node
}

// Add appends a node and returns its first output's name, so that chains
// read naturally.
func (g *Graph) Add(opType string, inputs, outputs []string, attrs ...Attribute) string {
	g.Nodes = append(g.Nodes, Node{OpType: opType, Inputs: inputs, Outputs: outputs, Attrs: attrs})
	if len(outputs) == 0 {
		return ""
	}
	return outputs[0]
}

// Model is an ONNX model holding one graph. Zero IRVersion and Opset mean
// DefaultIRVersion and DefaultOpset.
type Model struct {
	IRVersion       int64
	Opset           int64
	ProducerName    string
	ProducerVersion string
	DocString       string
	Graph           Graph
	// Metadata becomes the model's metadata_props (ONNX Runtime's custom
	// metadata map), encoded in key order so the bytes are deterministic.
	Metadata map[string]string
}

// Marshal validates m and encodes it as an ONNX ModelProto. It reports every
// problem it finds (empty names, data lengths that do not match dims,
// unsupported types) joined into one error.
func (m *Model) Marshal() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	ir, opset := m.IRVersion, m.Opset
	if ir == 0 {
		ir = DefaultIRVersion
	}
	if opset == 0 {
		opset = DefaultOpset
	}
	var b []byte
	b = appendInt(b, 1, ir)
	b = appendString(b, 2, m.ProducerName)
	b = appendString(b, 3, m.ProducerVersion)
	b = appendString(b, 6, m.DocString)
	b = appendMessage(b, 7, encodeGraph(&m.Graph))
	var op []byte
	op = appendInt(op, 2, opset)
	b = appendMessage(b, 8, op)
	keys := make([]string, 0, len(m.Metadata))
	for k := range m.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var e []byte
		e = appendStringAlways(e, 1, k)
		e = appendStringAlways(e, 2, m.Metadata[k])
		b = appendMessage(b, 14, e)
	}
	return b, nil
}

func (m *Model) validate() error {
	var errs []error
	g := &m.Graph
	for k := range m.Metadata {
		if k == "" {
			errs = append(errs, errors.New("model: metadata with an empty key"))
		}
	}
	if m.IRVersion < 0 || m.Opset < 0 {
		errs = append(errs, fmt.Errorf("model: ir version %d and opset %d must not be negative", m.IRVersion, m.Opset))
	}
	for i, v := range g.Inputs {
		errs = append(errs, validateValueInfo("input", i, v))
	}
	for i, v := range g.Outputs {
		errs = append(errs, validateValueInfo("output", i, v))
	}
	for i, t := range g.Initializers {
		errs = append(errs, validateTensor(i, t))
	}
	// Every value has one producer: a graph input, an initializer or a
	// node output.
	producer := map[string]string{}
	produce := func(name, what string) {
		if prev, ok := producer[name]; ok && name != "" {
			errs = append(errs, fmt.Errorf("value %q: produced by %s and by %s, expected one producer", name, prev, what))
			return
		}
		producer[name] = what
	}
	for i, v := range g.Inputs {
		produce(v.Name, fmt.Sprintf("input %d", i))
	}
	for i, t := range g.Initializers {
		produce(t.Name, fmt.Sprintf("initializer %d", i))
	}
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			produce(o, fmt.Sprintf("node %d (%s)", i, n.OpType))
		}
	}
	for i, n := range g.Nodes {
		if n.OpType == "" {
			errs = append(errs, fmt.Errorf("node %d (%q): empty op type", i, n.Name))
		}
		if len(n.Outputs) == 0 {
			errs = append(errs, fmt.Errorf("node %d (%s): no outputs", i, n.OpType))
		}
		for j, a := range n.Attrs {
			if a.Name == "" {
				errs = append(errs, fmt.Errorf("node %d (%s) attribute %d: empty name", i, n.OpType, j))
			}
			switch a.Type {
			case AttrTypeFloat, AttrTypeInt, AttrTypeString, AttrTypeFloats, AttrTypeInts:
			default:
				errs = append(errs, fmt.Errorf("node %d (%s) attribute %q: unsupported type %d", i, n.OpType, a.Name, a.Type))
			}
		}
	}
	return errors.Join(errs...)
}

func validateValueInfo(kind string, i int, v ValueInfo) error {
	var errs []error
	if v.Name == "" {
		errs = append(errs, fmt.Errorf("graph %s %d: empty name", kind, i))
	}
	if v.Type <= 0 {
		errs = append(errs, fmt.Errorf("graph %s %q: element type %d, expected a positive TensorProto.DataType", kind, v.Name, v.Type))
	}
	for _, d := range v.Shape {
		if d < 0 && d != Dynamic {
			errs = append(errs, fmt.Errorf("graph %s %q: dimension %d, expected >= 0 or Dynamic", kind, v.Name, d))
		}
	}
	return errors.Join(errs...)
}

func validateTensor(i int, t Tensor) error {
	if t.Name == "" {
		return fmt.Errorf("initializer %d: empty name", i)
	}
	n := int64(1)
	for _, d := range t.Dims {
		if d < 0 {
			return fmt.Errorf("initializer %q: dimension %d, expected >= 0", t.Name, d)
		}
		if d > 0 && n > math.MaxInt32/d {
			return fmt.Errorf("initializer %q: dims %v hold too many elements", t.Name, t.Dims)
		}
		n *= d
	}
	var have int
	switch t.Type {
	case Float:
		have = len(t.Floats)
	case Int64:
		have = len(t.Int64s)
	default:
		return fmt.Errorf("initializer %q: type %v, expected float or int64", t.Name, t.Type)
	}
	if int64(have) != n {
		return fmt.Errorf("initializer %q: %d values for dims %v, expected %d", t.Name, have, t.Dims, n)
	}
	return nil
}

func encodeGraph(g *Graph) []byte {
	var b []byte
	for i := range g.Nodes {
		b = appendMessage(b, 1, encodeNode(&g.Nodes[i]))
	}
	b = appendString(b, 2, g.Name)
	for i := range g.Initializers {
		b = appendMessage(b, 5, encodeTensor(&g.Initializers[i]))
	}
	for _, v := range g.Inputs {
		b = appendMessage(b, 11, encodeValueInfo(v))
	}
	for _, v := range g.Outputs {
		b = appendMessage(b, 12, encodeValueInfo(v))
	}
	return b
}

func encodeNode(n *Node) []byte {
	var b []byte
	for _, s := range n.Inputs {
		b = appendStringAlways(b, 1, s) // "" is a legal (absent optional) input
	}
	for _, s := range n.Outputs {
		b = appendStringAlways(b, 2, s)
	}
	b = appendString(b, 3, n.Name)
	b = appendString(b, 4, n.OpType)
	for i := range n.Attrs {
		b = appendMessage(b, 5, encodeAttr(&n.Attrs[i]))
	}
	return b
}

func encodeAttr(a *Attribute) []byte {
	var b []byte
	b = appendString(b, 1, a.Name)
	switch a.Type {
	case AttrTypeFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrTypeInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.I))
	case AttrTypeString:
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, a.S)
	case AttrTypeFloats:
		// proto2 repeated scalars without [packed=true] are written unpacked.
		for _, f := range a.Floats {
			b = protowire.AppendTag(b, 7, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(f))
		}
	case AttrTypeInts:
		for _, v := range a.Ints {
			b = protowire.AppendTag(b, 8, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	}
	b = appendInt(b, 20, int64(a.Type))
	return b
}

func encodeTensor(t *Tensor) []byte {
	var b []byte
	for _, d := range t.Dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = appendInt(b, 2, int64(t.Type))
	b = appendString(b, 8, t.Name)
	var raw []byte
	switch t.Type {
	case Float:
		raw = make([]byte, 0, 4*len(t.Floats))
		for _, f := range t.Floats {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
		}
	case Int64:
		raw = make([]byte, 0, 8*len(t.Int64s))
		for _, v := range t.Int64s {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
		}
	}
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	b = protowire.AppendBytes(b, raw)
	return b
}

func encodeValueInfo(v ValueInfo) []byte {
	var shape []byte
	for i, d := range v.Shape {
		var dim []byte
		if d == Dynamic {
			dim = appendString(dim, 2, "d"+strconv.Itoa(i))
		} else {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d))
		}
		shape = appendMessage(shape, 1, dim)
	}
	var tensor []byte
	tensor = appendInt(tensor, 1, int64(v.Type))
	tensor = appendMessage(tensor, 2, shape) // always present: empty = scalar
	var typ []byte
	typ = appendMessage(typ, 1, tensor)
	var b []byte
	b = appendString(b, 1, v.Name)
	b = appendMessage(b, 2, typ)
	return b
}

// appendInt writes a non-zero int64 varint field (zero is the proto2 default
// and is left out).
func appendInt(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// appendString writes a non-empty string field.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return appendStringAlways(b, num, s)
}

func appendStringAlways(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendMessage writes an embedded message field, even when it is empty.
func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}
