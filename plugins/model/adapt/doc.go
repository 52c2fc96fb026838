// Package adapt fits a model's readout to a new mouse with the model's core
// frozen: given the core's features per frame (X, frames x F) and the
// recorded responses (Y, frames x neurons), it finds per neuron weights w and
// a bias b for the readout y = exp(x w + b), the form of the built-in
// model's readout (Exp(h W + b), see package defaultmodel).
//
// Fit runs ridge regression on log targets z = log(y + Offset), with every
// neuron sharing one feature covariance matrix: per cross-validation fold
// one symmetric eigendecomposition of the training covariance serves every
// penalty in the grid and every neuron at once, so the cost is dominated by
// O(F^2 * neurons) products per penalty and fold, not by per-neuron
// solves. Each neuron gets its own penalty, the one with the least
// held-out squared error in log space over K contiguous blocks of frames
// (contiguous, because neighbouring frames of a recording are correlated).
// The final weights are refitted on all frames and the bias is calibrated
// so that the mean prediction equals the mean response, which is the
// Poisson maximum-likelihood bias for the given weights. Optionally
// (Options.PoissonIterations) each neuron's fit is then refined by L-BFGS
// (gonum/optimize) on the Poisson likelihood with the same penalty, which
// removes the log transform's bias for low counts at a cost per neuron of
// O(frames * F) per iteration: fine for hundreds of neurons, not for the
// benchmark's 1,000 neurons x 18,000 frames within a minute.
//
// Cost grows with F^2 (memory and time) and F^3 (the eigendecompositions):
// for the built-in model's 4,608 features the Gram matrix of 18,000 frames
// alone took 7 minutes on two loaded cores, so reduce the features first
// (576 pooled features: 30-57 s for 1,000 neurons, see BenchmarkFit).
// Memory: (Folds + 1) * (F^2 + F * neurons) float64 besides x and y.
// FitMap fits the foundation model's form of readout on a core's feature
// map (channels x positions per frame, read from a MapSource so that the
// map need not be held as float64): per neuron a position, a weight per
// channel there, weights for extra regressors such as behaviour, and a
// bias. It locates a few candidate positions per neuron from how the
// activity of groups of channels there correlates with the response, runs
// Fit once per candidate position for all the neurons that try it, and
// keeps each neuron's position with the best cross-validated score. Its
// cost is dominated by one Gram matrix per candidate position, (channels +
// extras)^2 * frames, not by the size of the whole map. A map of more than
// ProjectAbove channels (the foundation model's 512) is first projected on
// its channels' DefaultComponents (64) leading principal components, so
// that each position's fit has 68 regressors instead of 516: the weights
// are still one per channel, constrained to that span
// (BenchmarkFitMapFoundationSize: 1,000 neurons on fnn's 512 x 16 x 24 map;
// BENCHMARKS.md). The projection is held in memory as float32, frames x
// positions x 64 (590 MB for 10 minutes in bins of 3 steps).
package adapt
