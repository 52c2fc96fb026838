// Package onnxmodel runs ONNX models that fit twinrig's foundation-model
// contract with ONNX Runtime (through cgo and github.com/yalue/onnxruntime_go).
//
// Use it in three steps:
//  1. Init loads the ONNX Runtime shared library once per process
//     (LocateLibrary says where it is looked for).
//  2. CheckContract, Inspect and InspectFile check a model's inputs and
//     outputs against the contract (see Contract) and report every violation
//     as an error wrapping rig.ErrContract that names the tensor.
//  3. New or NewFile prepare a Runner, which steps the model frame by frame
//     and keeps its recurrent state inside the process, swapping two sets of
//     state buffers instead of copying them.
//  4. Runner.NewBatchRunner prepares a BatchRunner on the same session: it
//     evaluates many candidate stimuli from a common warm-up state, many
//     batch rows at a time for a model with a dynamic batch dimension
//     (Contract.Batched), one at a time otherwise, on state of its own.
//
// Package batchmodel builds small batched models for tests and benchmarks.
//
// The package holds all of twinrig's cgo for models; it belongs in the model
// plugin's process only.
package onnxmodel
