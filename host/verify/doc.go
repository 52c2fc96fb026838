// Package verify scores the verification stage of the closed loop: each
// target neuron is shown its most exciting input(s) (MEI) and control
// stimuli (its best natural clip, its best Gabor, a blank), interleaved and
// repeated, and the package decides, per target, whether the MEI drove the
// neuron more than every control (Walker et al. 2019).
//
// # Input
//
// An Accumulator takes one value per trial: Add(target, condition, repeat,
// value). The package is agnostic about what the value is; the session
// passes the trial's response in the verification window (Response: the
// mean dF/F over the trial shifted by ResponseLatency minus the mean over
// the BaselineWindow before it), but any scalar response per trial works. Trials may
// arrive in any order, interleaved across targets and conditions, and
// Result may be called at any time (for instance on the partial data of an
// aborted session). Plan registers targets and conditions before their
// trials, so that a target never shown still appears in the report.
//
// A condition has a name and a kind: KindMEI ("mei", or "mei-2", "mei-3"...
// when a target has several MEIs) or KindControl, named after the verify
// block's control stimuli (protocols.Control: "best_natural",
// "best_gabor", "blank").
//
// # Statistics, per target
//
//   - Per condition: n (trials), mean, s.d. (sample, n-1), s.e.m. = s.d./sqrt(n).
//   - The deciding MEI: with several MEIs, the one with the highest mean
//     response decides the verdict (no correction is made for picking the
//     best of several; the other MEIs' statistics are still reported).
//   - z = (mean of the deciding MEI - mean of the pooled control trials) /
//     s.d. of the pooled control trials, where the pool holds every trial of
//     every control condition of the target (sample s.d., n-1). The pooled
//     s.d. includes the spread between the controls' means.
//   - Per control: a one-sided Welch t-test of MEI > control:
//     t = (m1 - m2) / sqrt(v1/n1 + v2/n2), Welch-Satterthwaite
//     df = (v1/n1 + v2/n2)^2 / ((v1/n1)^2/(n1-1) + (v2/n2)^2/(n2-1)),
//     p = P(T_df > t) (gonum's distuv.StudentsT). The p values are
//     Holm-corrected across the target's controls (step-down: the i-th
//     smallest of m is multiplied by m-i+1, then made monotone and capped
//     at 1).
//   - Verdict: driven when the deciding MEI's mean is above every control's
//     mean (the science criterion); significant when, in addition, every
//     Holm-corrected p is below Alpha (0.05 by default).
//
// # Undefined values
//
// Undefined values are NaN, never guessed (null in JSON, empty in CSV):
// s.d. and s.e.m. with fewer than two trials; a t-test where either side
// has fewer than two trials or both sides have zero variance; z with fewer
// than two pooled control trials or a zero pooled s.d. A target with an
// undefined test keeps the verdict its means give (driven or not driven)
// but cannot be significant, and its notes say why. A target without MEI
// trials or without control trials is "incomplete". Controls seen on other
// targets (or planned) but without trials on this one are listed in its
// notes; the verdict then compares the controls that have trials.
//
// NaN or infinite values are rejected with an error wrapping rig.ErrInvalid
// that names the target and condition.
//
// # Summary and report
//
// The summary counts targets, evaluated targets (those with MEI and control
// trials), driven and significant targets, their fractions of the evaluated
// targets, and the median and quartiles of z. A Result prints as a
// fixed-width table (WriteTable) and saves as JSON (everything, including
// every trial; schema versioned by SchemaVersion) and CSV (one row per
// target and condition). SaveJSON and SaveCSV write a temporary file in
// the destination directory and rename it, so a crash never leaves a half
// file.
package verify
