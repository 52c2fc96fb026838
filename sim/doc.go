// Package sim is twinrig's simulated mouse: a population of
// linear-nonlinear model neurons in primary visual cortex that respond to
// the very frames a stimulus plugin shows, seen through a calcium indicator
// and a two-photon microscope.
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
//     Simple cells take the even filter's output; complex cells the energy
//     sqrt(even^2 + odd^2) of a quadrature pair.
//   - a temporal low-pass (exponential, Config.IntegrationTau) on the filter
//     outputs, each step integrating the frames on screen during the step,
//     weighted by how long each was shown.
//   - a soft-threshold rate: rate = Baseline + Peak * (h(x - th) - h(-th)) /
//     (h(1 - th) - h(-th)), clipped to [0, MaxRateHz], with a per-neuron
//     threshold th and peak rate, and h(z) = (z + sqrt(z^2 + k^2)) / 2 a
//     smooth rectifier (softplus-like, knee width k = 0.1). A drive of 0
//     gives the baseline rate and a drive of 1 the baseline plus the peak.
//   - Poisson spikes, drawn once per simulation step (Config.StepsPerScan
//     steps per imaging frame), added to the calcium at the end of the step.
//   - calcium kinetics: a double exponential kernel (rise and decay time
//     constants of the Indicator) scaled to a peak of 1 per spike, run as two
//     first-order recursions; dF/F = SpikeAmplitude * calcium + Gaussian
//     noise of s.d. NoiseSD, drawn independently for every sample.
//
// The population is drawn as follows: centres uniform over the central 60 %
// of the frame's width and height; orientation uniform in [0, 180) degrees;
// spatial frequency log-uniform in [2.5, 8] cycles per frame width (with a
// 120 degree wide screen, 0.02 to 0.07 cycles per degree); envelope s.d.
// across the bars 0.3 to 0.5 periods and along them 1 to 1.6 times that;
// phase uniform; complex with probability ComplexFraction; threshold
// uniform in [0.15, 0.35]; peak rate log-normal (s.d. 0.5 in log units) with
// mean DrivenRateHz; scan line uniform over the field of view.
//
// # Imaging time
//
// Imaging frame k is stamped at exactly k/ImagingRateHz on the session
// clock (rounded to the nanosecond): the frame-clock tick at which its
// raster completes. Each neuron lies on its own scan line (a seeded position
// in the field of view), so its value in frame k is its fluorescence at
// Time - Lag, where Lag (see RF) is how long before the end of the frame
// the scanner passed that line, in (0, 1/ImagingRateHz]. Values are
// therefore causal: scan k depends only on the frames shown up to its Time.
//
// Each session starts from the steady state of a mean-gray screen: the
// simulation runs from several indicator decay times before time zero.
//
// # Determinism
//
// The receptive fields depend only on Config (its Seed above all). Spikes
// and noise come from random streams keyed by the Seed and the session
// number given to Reset, so the same Config, session and sequence of calls
// give identical scans (within one Go release).
package sim
