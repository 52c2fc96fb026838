// Package defaultmodel builds twinrig's built-in model: a small, cheap,
// deterministic stand-in for the foundation model that fits the same
// contract (see package onnxmodel and rig/proto/MODEL.md), so that a rig
// runs end to end without the real model's weights, and whose core is
// V1-like enough that a readout fitted to a new mouse predicts it well.
//
// Inputs are "frame" uint8 [B,1,144,256], "perspective" float32 [B,2],
// "modulation" float32 [B,2] and the state "in.h" float32 [B,48,9,16];
// outputs are "responses" float32 [B,Neurons], strictly positive, the next
// state "out.h" and the core's "features" [B,120,9,16]. The batch B is
// dynamic (1 when streaming; many candidates at once for Evaluate).
//
// The core: a frame is scaled to [-0.5, 0.5] and average-pooled 8 x 8 to an
// 18 x 32 grid; 48 Gabor filters (3 spatial frequencies, wavelengths of
// 32, 51 and 82 pixels, x 8 orientations x an even and an odd phase: the
// quadrature pairs of the energy model) run over it with a stride of 2,
// giving a 9 x 16 map; the state low-passes these linear outputs over time
// (h' = 0.6 h + 0.4 f, a time constant of about two frames, the causal
// temporal filter); the features are the half-rectified outputs Relu(h')
// and Relu(-h') (simple-cell-like) and each pair's energy even^2 + odd^2
// (complex-cell-like): 120 channels at each of the 144 positions.
//
// The readout is the foundation model's in form: each neuron reads the 120
// channels at one position of the map ("readout.position"), weighs them
// ("readout.weight" [Neurons,120]), adds "readout.bias" and takes Exp; a
// behaviour gain in (0.9, 1.1) scales all responses. The built-in readout
// is random; the model plugin fits a new one to the recorded neurons
// (Adapt) on the "features" output. A step costs about 2 M multiply-adds.
//
// Build is deterministic: the same Options give the same bytes on every
// platform and Go version (the weights come from splitmix64 on a
// power-of-two grid, the Gabor filters are quantised to 2^-12).
package defaultmodel
