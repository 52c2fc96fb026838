// Package sim is twinrig's simulated mouse: a population of
// linear-nonlinear model neurons in primary visual cortex that respond to
// the very frames a stimulus plugin shows, modulated by the mouse's
// behaviour, seen through a calcium indicator and a two-photon microscope,
// with every hidden variable available as ground truth (Mouse.Truth,
// Mouse.OptimalStimulus).
//
// # Model
//
// Each neuron, drawn from the Config's seed, has:
//
//   - a Gabor receptive field (centre, orientation, spatial frequency, phase,
//     envelope size and elongation) on a coarse stimulus grid (32 x 18 by
//     default) spanning the frame. Every observed frame is box-averaged onto
//     that grid as (pixel - 128) / 255, so mean gray drives nothing. The
//     filters are cut off at 2.5 envelope s.d.s, made blind to uniform
//     luminance, and scaled so that a full-contrast grating at the neuron's
//     preferred orientation and spatial frequency gives a drive of about 1.
//     Where it costs fewer operations, a filter is applied in the frequency
//     domain instead: it keeps the fewest bins of the grid's 2-D DFT holding
//     99 % of its energy (correlation with the spatial filter > 0.99) and is
//     rescaled the same way; it is then periodic on the grid.
//   - a type: simple cells take the even filter's output; complex cells the
//     energy sqrt(even^2 + odd^2) of a quadrature pair; direction-selective
//     cells (Config.DSFraction) the motion energy of that pair with a
//     temporal quadrature: with e, o the filter outputs and e', o' the same
//     delayed by a quarter period of the preferred temporal frequency (1 to
//     4 Hz, log-uniform, rounded to whole steps), drive = sqrt(A^2 + B^2) / 2
//     with A = e + s o' and B = s o - e', s = -1 or +1 for the two
//     directions: a grating drifting the preferred way at the preferred
//     frequency gives about 1, the opposite way about 0. RF.DirectionDeg gives the preferred drift
//     direction in the stimulus library's convention.
//   - a temporal low-pass (exponential, Config.IntegrationTau) on the filter
//     outputs, each step integrating the frames on screen during the step,
//     weighted by how long each was shown.
//   - a contrast response: the drive x becomes x (1 + C50) / (|x| + C50), a
//     Naka-Rushton function of exponent 1 with a per-neuron semi-saturation
//     C50 (log-uniform in [0.15, 1.5]) that keeps a drive of 1 at 1.
//   - a soft-threshold rate: rate = Baseline + Peak * (h(x - th) - h(-th)) /
//     (h(1 - th) - h(-th)), with a per-neuron threshold th and peak rate,
//     and h(z) = (z + sqrt(z^2 + k^2)) / 2 a smooth rectifier (softplus-like,
//     knee width k = 0.1). A drive of 0 gives the baseline rate and a drive
//     of 1 the baseline plus the peak.
//   - state modulation: the rate is multiplied by 1 + g_run * speed /
//     RunSpeed + PupilGain * z_pupil (z_pupil the pupil radius z-score,
//     clipped to [-2, 3]), with a per-neuron running gain g_run drawn
//     log-normally (s.d. 0.5 in log units) around Behaviour.RunningGain,
//     and by a slow gain fluctuation exp(u - GainNoiseSD^2 / 2), u an
//     Ornstein-Uhlenbeck process of s.d. GainNoiseSD and time constant
//     GainNoiseTau updated every GainNoiseTau / 10 (rounded to whole steps);
//     then clipped to [0, MaxRateHz].
//   - spikes: Poisson counts given that rate, drawn once per simulation
//     step (Config.StepsPerScan steps per imaging frame), capped at
//     max(1, floor(step / RefractoryPeriod)) per step. The gain fluctuation
//     makes the counts a doubly stochastic (modulated) Poisson process:
//     overdispersed, Fano factor above 1 over windows comparable to
//     GainNoiseTau.
//   - calcium kinetics: a double exponential kernel (rise and decay time
//     constants of the Indicator) scaled to a peak of 1 per spike, run as two
//     first-order recursions.
//
// The population is drawn as follows: centres uniform over the central 60 %
// of the frame's width and height; orientation uniform in [0, 180) degrees;
// spatial frequency log-uniform in [2.5, 8] cycles per frame width (with a
// 120 degree wide screen, 0.02 to 0.07 cycles per degree); envelope s.d.
// across the bars 0.3 to 0.5 periods and along them 1 to 1.6 times that;
// phase uniform; complex with probability ComplexFraction, direction
// selective with probability DSFraction (either direction equally likely),
// simple otherwise; threshold uniform in [0.15, 0.35]; peak rate log-normal
// (s.d. 0.5 in log units) with mean DrivenRateHz; plane uniform over the
// Planes; scan line uniform over the plane's field of view.
//
// # Behaviour
//
// A seeded process, stepped with the simulation: the mouse alternates
// still and running bouts (a two-state Markov process with mean bout
// lengths Behaviour.StillBout and Behaviour.RunBout, so it runs about
// RunBout / (RunBout + StillBout) of the time); each running bout has a
// target speed drawn log-normally (s.d. 0.3) around Behaviour.RunSpeed,
// approached with a 0.5 s time constant, plus a 15 % fluctuation; the
// pupil radius (mm) is 0.4 + 0.15 * (speed / RunSpeed low-passed at 2 s) +
// a slow fluctuation (s.d. 0.05 mm, 8 s); the pupil centre jumps to a new
// position (s.d. 0.08 mm) in saccades at 0.3 Hz (0.6 Hz while running) and
// drifts back with a 3 s time constant. Each scan's rig.Behaviour holds
// pupil x, pupil y, pupil radius and treadmill speed at the scan's Time,
// z-scored with this mouse's BehaviourStats: the means and s.d.s over a
// one-hour session of the same process drawn from a stream of its own (the
// "training set" statistics), so each is about 0 on average with s.d. 1.
//
// # Imaging
//
// The value reported for neuron i is its ROI trace in dF/F:
//
//	SpikeAmplitude * calcium_i + NeuropilCoef * neuropil_p + drift_i + noise
//
// where neuropil_p, shared by the neurons of plane p, is the plane's mean
// SpikeAmplitude * calcium plus an Ornstein-Uhlenbeck fluctuation (s.d.
// NeuropilSD, time constant NeuropilTau); drift_i is a slow
// Ornstein-Uhlenbeck baseline drift (s.d. DriftSD, time constant
// DriftTau, updated every DriftTau / 100 rounded to whole scans, at least
// every scan, and held in between) of each ROI; and the noise is Gaussian,
// independent for every sample, of s.d. NoiseSD, times
// sqrt(max(0.05, 1 + the rest)) with
// ShotNoise (photon shot noise grows with the square root of F/F0). Every
// term is in Truth, so a pipeline can subtract NeuropilCoef times the
// neuropil as suite2p does.
//
// # Imaging time
//
// Imaging runs at ImagingRateHz frames per second over Planes planes, so a
// volume, and a scan, takes Planes / ImagingRateHz. Scan k is stamped at
// exactly k * Planes / ImagingRateHz on the session clock (rounded to the
// nanosecond): the frame-clock tick at which its volume completes. Plane p
// is imaged during the volume's frame p, and each neuron lies on its own
// scan line within its plane, so its value in scan k is its fluorescence at
// Time - Lag, where Lag (see RF) is how long before the end of the volume
// the scanner passed that line, in ((Planes - 1 - p) / ImagingRateHz,
// (Planes - p) / ImagingRateHz]. Values are therefore causal: scan k
// depends only on the frames shown up to its Time.
//
// Each session starts from the steady state of a mean-gray screen: the
// simulation runs from several indicator decay times before time zero.
//
// # Ground truth
//
// With Config.TruthHistory > 0 the mouse keeps, for the latest scans, each
// neuron's rate, spike count since its previous sample, noise-free calcium
// dF/F, neuropil and drift, and the behaviour in physical units (Truth).
// OptimalStimulus renders each neuron's analytically most exciting
// stimulus.
//
// # Raw frames
//
// RawFrame renders a scan's plane as a raw FOVSize x FOVSize 16-bit
// two-photon frame: Gaussian somas at RF.SomaX, RF.SomaY whose brightness
// follows the scan's values, on a uniform background, moved by the rigid
// brain Motion at the scan's time, with shot noise.
//
// # Determinism and speed
//
// The receptive fields depend only on Config (its Seed above all). Spikes,
// gain noise, behaviour, neuropil, drift and noise come from random
// streams keyed by the Seed and the session number given to Reset (the
// neurons in blocks of 1024, each block with its own streams for spikes,
// gain noise, and imaging noise and drift), so the same Config, session
// and sequence of calls give identical scans (within one Go release),
// whatever the number of CPUs. The blocks are simulated, and sampled, in
// parallel on Config.Workers goroutines (GOMAXPROCS by default).
//
// Observe only resamples a frame (and drops it if the screen did not
// change); the receptive fields are applied when the simulation first
// reaches a frame, to up to 8 queued frames in one pass over the weights
// (vectors of 8 lanes). A frame's filter outputs are float32 sums
// in a fixed order (one running sum per output, over the filter's
// positions in order), so they do not depend on which frames share its pass:
// the scans do not depend on how Observe and Scans calls are interleaved.
package sim
