// Package mei selects and synthesises most exciting inputs (MEIs) of
// target neurons with an adapted model: the inception loop's model-side
// half (docs/science.md#mei). It only needs a rig.Evaluator (the model
// plugin's batched Evaluate), so a plugin process or an in-process model
// serves alike.
//
// # Ranking
//
// NaturalPool, GaborPool and NoisePool build candidate pools, deterministic
// from their options: clips of the procedural natural video, static Gabor
// patches over a grid of positions, orientations, spatial frequencies and
// phases, and static pink-noise images. Every PoolItem carries its frames
// at the model's size and rate and a stimulus library spec that replays it
// (stimuli.New, or the stimulus plugin). Rank evaluates the whole pool for
// all targets at once, in as few Evaluate calls as rig's request limits
// allow, and keeps each target's best items overall and per kind (the
// controls of a verification: the best natural clip, the best Gabor).
//
// # Synthesis
//
// Synthesise searches a low-dimensional parameterisation with CMA-ES
// (gonum's optimize.CmaEsChol, driven through its Method interface so that
// a whole population, of every target at once, goes to the model in one
// Evaluate call per generation; see cmaRun).
//
// The parameterisation (Params): a Gaussian window at (X, Y), of s.d.
// Sigma across the first carrier's bars and Sigma * Aspect along them, cut
// off at 2.5 s.d.s; under it the sum of Components plane-wave carriers
// (default 2), each with an orientation, a spatial frequency, a phase, an
// amplitude and, for a video, a drift rate (-6..6 Hz); the windowed sum p,
// scaled to a peak of 1, is shaped as s p / sqrt(1 + (s p)^2) with a
// sharpness s from 0.3 (a smooth Gabor-like patch) to 30 (a binary one, as
// the optimum of a neuron whose drive saturates under a pixel-range
// constraint is). That is 5 + 4 x Components coordinates for an image
// (13 by default) and 5 + 5 x Components for a video (15). It reaches
// Gabor receptive fields at any position, size, elongation, orientation,
// frequency and phase (simple cells), any phase (complex cells are
// phase-invariant) and drifting gratings in either direction at the
// preferred temporal frequency (direction-selective cells need the video);
// a second carrier adds plaids and end-stopping-like shapes. The
// optimiser works in unit coordinates: each coordinate spans its range
// (logarithmically for sizes and frequencies) over [0, 1] and is folded
// back into it, orientation and phase wrap around.
//
// The constraint holds by construction: every frame is mapped to gray
// levels as clip(offset + gain * pattern, 0, 255) with gain and offset
// solved so that its mean is SynthOptions.Mean and its s.d. is
// SynthOptions.Contrast * 255 (RMS contrast); a pattern too small to reach
// that contrast within 0..255 gets the largest it can have, never more.
//
// Warm starts: a KindGabor pool item carries its parameters in this
// parameterisation (PoolItem.Gabor), so each search starts at one of the
// target's best ranked Gabors (Target.Warm), which is evaluated too: the
// MEI is never worse, in the model, than its warm start rendered under the
// constraint.
//
// Diversity: with Count > 1 the k-th MEI of a target maximises
// response * (1 - Diversity * s), s its largest absolute pixel correlation
// with the target's earlier MEIs, and starts from the next warm item.
//
// Gradient ascent is not implemented: contract version 1 has no
// input-gradient output (rig/proto/MODEL.md).
//
// Defaults: 2 components, RMS contrast 0.15 (about that of the natural
// clips), mean 128, CMA-ES population 16 and 20 generations from a step
// of 0.1, each candidate held 30 steps after a 10-step gray warm-up with
// the first 5 left out (Eval), like the pools' items, so that ranked and
// synthesised responses compare.
//
// gonum's CmaEsChol samples from N(mean, InitCholesky) and uses
// InitStepSize only inside its updates, so cmaRun gives it both. Its
// step-size control is weaker than textbook CMA-ES (on a 15-dimensional
// sphere it gains about an order of magnitude in 60 generations of 16,
// exactly as through optimize.Minimize), so the searches rely on the warm
// start and a moderate Step.
//
// # Science check
//
// TestInceptionScience (opt-in, TWINRIG_SCIENCE=1) closes the loop on the
// simulated mouse: the built-in model adapted on 10 minutes of natural
// video, 20 targets (the best cross-validated), a pool of 64 natural clips,
// 1,344 Gabors and 64 noise images, image MEIs (12 generations) and video
// MEIs for the direction-selective targets, then 10 repeats of each MEI and
// control shown to the mouse. With the default contrast the MEI drove 17
// of 20 targets above every control (best natural clip, best Gabor,
// blank; mean true rate), the median MEI / best-control rate ratio was
// 1.30 and the median correlation with the analytic optimum 0.38.
package mei
