// Package metrics scores a model's predictions against recorded responses
// with the accuracy measures of the foundation-model work, per neuron:
//
//   - CCAbs: Pearson r between the trial-averaged prediction and the
//     trial-averaged response, over the frames of the repeated test clips
//     after burn-in;
//   - CCMax: the noise ceiling from repeats (Schoppe et al. 2016),
//     sqrt((N*Var(mean_r) - mean_n Var(r_n)) / ((N-1)*Var(mean_r))) with N
//     repeats, where r_n is the n-th repeat's response over all clips'
//     frames and mean_r the average over repeats;
//   - CCNorm = CCAbs / CCMax (it can exceed 1 for noisy neurons);
//   - SingleTrial: Pearson r between prediction and single-trial response
//     over all frames of all trials (Sensorium 2023's primary metric).
//
// An Accumulator takes one frame at a time as data arrive (Add) and keeps
// streaming (Welford) moments where the measure allows it: the single-trial
// co-moments and each repeat's response variance. Trial averages cannot be
// streamed into a correlation, so it also keeps per-clip sums of prediction
// and response per frame and neuron (2 float64 per clip frame and neuron).
// Result computes every measure and its median and quartiles over neurons.
//
// Undefined values are NaN, never guessed: a Pearson r over a constant
// series or fewer than two frames, CCMax with one repeat, with a constant
// trial-averaged response, or with a negative signal power (the numerator
// above below zero: noise swamps the signal), and CCNorm wherever CCAbs or
// CCMax is NaN or CCMax is zero. Summaries skip NaN values.
package metrics
