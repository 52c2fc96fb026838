// Package modelplugin implements rig.Model on top of package onnxmodel:
// the model plugin's logic, kept apart from its main so that it can be
// tested in process and through rigtest.Model.
//
// Settings (JSON, unknown fields rejected):
//
//	{
//	  "model": "builtin:default",  // or the path of an .onnx file
//	  "neurons": 100,              // built-in model only
//	  "seed": 1,                   // built-in model only
//	  "device": "cpu",             // or "cuda" (falls back to cpu, logging why)
//	  "threads": 0,                // onnx runtime intra-op threads; 0 = its default
//	  "ort_library": "",           // libonnxruntime.so.1; empty = search
//	  "readout": "",               // a readout file saved by Adapt
//	  "evaluate_batch": 16         // candidates per Evaluate batch (batched models)
//	}
//
// Any model file that fits the contract checked by onnxmodel.CheckContract
// works; Describe reports its frame size and neuron count, 30 Hz and a
// burn-in of 10 frames. Model.Evaluate ranks candidate stimuli in batches
// (rig.Evaluator; see rig/proto/MODEL.md, "Batched evaluation").
package modelplugin
