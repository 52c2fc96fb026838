// Package defaultmodel builds twinrig's built-in model: a small, cheap,
// deterministic stand-in for the foundation model that fits the same
// contract (see package onnxmodel), so that a rig runs end to end without
// the real model's weights.
//
// Inputs are "frame" uint8 [1,1,144,256], "perspective" float32 [1,2],
// "modulation" float32 [1,2] and the state "in.h" float32 [1,StateSize];
// outputs are "responses" float32 [1,Neurons], strictly positive, and the
// next state "out.h". A frame is scaled to [-0.5, 0.5], average-pooled 8 x 8
// to an 18 x 32 map, filtered by 8 fixed Gabor filters (4 orientations x
// 2 phases) and rectified; the state low-passes these features over time
// (time constant about two frames); the behaviour inputs scale all responses
// by a gain in (0.9, 1.1); the readout is a plain MatMul with weights
// "readout.weight" and "readout.bias" followed by Exp. A step costs about
// 0.7 M multiply-adds for 100 neurons.
//
// Build is deterministic: the same Options give the same bytes on every
// platform and Go version (the weights come from splitmix64 on a
// power-of-two grid, the Gabor filters are quantised to 2^-12).
package defaultmodel
