// Package motion corrects rigid (translational) motion of a two-photon
// movie online, one frame at a time.
//
// # Method
//
// Each frame is registered against a running template by phase
// correlation:
//
//  1. A square window (Config.Window pixels a side), centred in the frame
//     but displaced by the previous frame's integer shift (so that it holds
//     the same content as the template's window), is cut from the frame
//     (edge pixels repeated beyond the frame), its mean removed and its
//     edges tapered (a cosine ramp Config.Taper pixels wide) so that
//     content entering and leaving the field of view does not correlate.
//  2. Its 2-D Fourier transform F is computed as FFTs of the rows (real,
//     so two rows go through one complex FFT) and complex FFTs of the
//     resulting columns (gonum's dsp/fourier).
//  3. The cross-power spectrum F * conj(T) with the template's transform T
//     is whitened (divided by its magnitude) and multiplied by a Gaussian
//     (Config.Smooth pixels s.d. in space), so that the inverse transform
//     is a smooth peak, close to a sampled Gaussian, centred on the shift.
//     Frequencies where that Gaussian is below 1.1 % of its peak (beyond
//     3 s.d., along either axis) are dropped, so only the columns of the
//     half spectrum inside that band are transformed along y (32 of 65 for
//     the default 128-pixel window and Smooth 2), and only the correlation
//     rows searched in step 4 are transformed back.
//  4. The integer peak is searched among shifts within Config.MaxShift
//     pixels of zero.
//  5. When that peak is not at zero, a second pass cuts the window
//     displaced by the new integer shift (a window that holds different
//     content than the template's lets the fixed taper pull the estimate
//     toward zero) and correlates again. Slow motion thus costs one pass
//     per frame and jumps two. The residual peak is refined by maximising the
//     continuous, band-limited correlation, evaluated exactly from the
//     (cut) cross-power spectrum one axis at a time, by golden-section
//     search within a pixel (two alternations of the axes).
//
// On simulated 128x128 to 176x176 movies with shot noise and active somas,
// planted shifts of up to 8 px are recovered to 0.03-0.05 px rms (tests).
//
// The shift (Y, X) is the frame's displacement relative to the template:
// frame(y, x) = template(y - Y, x - X). The corrected frame is
// corrected(y, x) = frame(y + Y, x + X), resampled bilinearly; samples that
// fall outside the frame take the value of the nearest edge pixel.
//
// # Template
//
// The first frame is the initial template. The next Config.InitFrames - 1
// frames are registered to it and averaged in with equal weights; after that
// every corrected frame enters an exponential average with weight
// Config.Rate (a time constant of about 1/Rate frames). The template's
// transform is recomputed every Config.UpdateEvery frames. Everything is
// causal: a frame is registered only against frames before it.
//
// A Corrector is not safe for concurrent use. In steady state Correct
// allocates nothing.
package motion
