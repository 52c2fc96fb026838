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
//	  "evaluate_batch": 16,        // candidates per Evaluate batch (batched models)
//	  "feature_log_dir": "",       // the feature log's spill file; empty = os.TempDir()
//	  "feature_log_memory_mb": 256 // feature log kept in memory, MiB; the rest spills
//	}
//
// The feature log holds the model's features for every step since the
// last session reset, for Adapt (binned, bfloat16: 34.6 kB per 3 steps for
// the built-in model, 393 kB for the foundation model's map). Beyond
// feature_log_memory_mb it goes to a temporary file in feature_log_dir,
// unlinked at once where the system allows (removed at Close otherwise),
// so no step is dropped and a killed plugin leaves nothing behind; give a
// dir with room for the session (about 2.4 GB per 10 minutes of the
// foundation model at 30 Hz). Configure refuses a dir that does not exist
// or is not writable; a write that fails later (a full disk) makes Adapt
// fail until the next session reset.
//
// Any model file that fits the contract checked by onnxmodel.CheckContract
// works; Describe reports its frame size and neuron count, 30 Hz and a
// burn-in of 10 frames. Model.Evaluate ranks candidate stimuli in batches
// (rig.Evaluator; see rig/proto/MODEL.md, "Batched evaluation").
package modelplugin
