// Package fnnbench builds a random-weight ONNX model with the foundation
// model's ("FNN") tensor sizes and operator mix, for measuring what the
// real model would cost in twinrig (time per frame, memory, state traffic)
// without its weights. It fits the twinrig model contract (see package
// onnxmodel) and its outputs mean nothing.
//
// The graph, for N neurons:
//
//   - input "frame" uint8 [1,1,144,256], scaled to [-0.5, 0.5] and resampled
//     by GridSample onto a 128 x 192 "retina" whose position shifts with
//     "perspective" [1,2];
//   - a stem (strided 7 x 7 Conv, 1 x 1 Conv) to 128 x 64 x 96, then three
//     stages of two causal temporal convolutions each (kernel 3 in time,
//     3 x 3 in space, grouped, residual, Relu) at 128 x 64 x 96,
//     256 x 32 x 48 and 512 x 16 x 24, joined by strided 2 x 2 Convs, and a
//     1 x 1 Conv to 128 channels; each temporal convolution keeps its two
//     previous (zero-padded) inputs as state pairs in.<name>.prev1/prev2 ->
//     out.<name>.prev1/prev2, of the real export's sizes [1,128,66,98],
//     [1,256,34,50] and [1,512,18,26];
//   - "modulation" [1,2] through a small MLP and an LSTM cell of 64 units
//     (state in.mod.h, in.mod.c [1,64]) added to the core's input;
//   - a recurrent cell on the 16 x 24 map with h and c of [1,1024,16,24]
//     (state in.rec.h, in.rec.c): single-head attention over the 384
//     positions (1 x 1 Conv projections, MatMul, Softmax) and LSTM gates from
//     a grouped 1 x 1 Conv (Sigmoid, Tanh, Mul, Add);
//   - a readout: a 1 x 1 Conv to 512 features, then per neuron a bilinear
//     read at a fixed position (four Gathers of map positions with fixed
//     weights), a 512-d feature weight vector (Mul, ReduceSum), a bias and
//     Exp: output "responses" [1,N].
//
// For 10,000 neurons: 11.1 M parameters, 5.13 M of them in the readout
// (the real export: 9.76 M and 5.22 M); 4.16 G multiply-adds per frame
// (4.24 G); state 16 pairs, 6.8 M floats (27 MB), the real export's sizes
// exactly. Describe reports these figures. Not modelled: the real model's 4-member
// ensemble, its eye-rotation geometry and its CvT-LSTM's multi-head
// convolutional attention details.
//
// Build is deterministic: the same Options give the same bytes (weights
// from splitmix64 and correctly rounded arithmetic only).
package fnnbench
