// Package onnxbuild encodes small ONNX models from plain Go values.
//
// It writes the protobuf wire format directly with protowire, using the
// field numbers of the ONNX specification (onnx.proto, IR version 8), so no
// generated ONNX protobuf package enters the binary. It covers what
// twinrig's built-in and test models need: a single graph with typed,
// fixed-shape inputs and outputs, float32 and int64 initializers, and nodes
// with int, ints, float, floats and string attributes, in the default
// operator domain at opset 17.
//
// Encoding is deterministic: the same Model always gives the same bytes.
// Fields are written in a fixed order and tensor data is stored as
// little-endian raw_data.
package onnxbuild
