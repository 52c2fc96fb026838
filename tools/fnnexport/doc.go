// Package fnnexport checks, from Go and in ONNX Runtime, the ONNX files that
// the fnn exporter writes (fnn_export.py in this directory; README.md says
// how to run it).
//
// The exporter writes two files: the model, which fits twinrig's model
// contract v1 (rig/proto/MODEL.md), and a reference (JSON) holding the
// inputs of a few verification steps and the responses of the original
// PyTorch network, whose state lived in Python objects. ReadReference reads
// the reference, MatchContract checks that the model as ONNX Runtime sees it
// (onnxmodel.Contract) is the one the reference describes, and Compare steps
// an onnxmodel.Runner through the reference's inputs from a reset and
// measures how far its responses are from PyTorch's.
//
// Interleaved (and the command cmd/fnnbench) times an exported model three
// ways in one run on the same frames: fnn's PyTorch step (torchstep.py), the
// bare ONNX Runtime call and the model plugin's PredictStream.
//
// The package's test runs the exporter on its small test network
// (toymodel.py) when a Python with PyTorch is found (FindPython), and checks
// a user's own export when TWINRIG_FNN_ONNX and TWINRIG_FNN_REFERENCE name
// its files.
package fnnexport
