// Package stimuli is twinrig's stimulus library: pure-Go, deterministic
// renderers of parametric visual stimuli as 8-bit grayscale frames.
//
// A stimulus is described by a JSON spec with at least a "family" and,
// for families that draw random numbers, a "seed"; the remaining fields are
// family parameters. [New] validates a spec for one frame size and display
// rate and returns a [Sequence], which renders display frame i (the frame
// index is the only notion of time) into a caller-owned buffer.
//
// Rendering is reproducible: the same spec, seed, size and rate give
// bit-identical frames on every run, whatever order the frames are rendered
// in. Phases are kept as 64-bit fixed-point integers (2^64 units per cycle)
// and gray levels come from a lookup table, so a frame costs one table
// lookup per pixel and no floating-point math.
//
// The package knows nothing about screens or windows: the stimulus plugin
// draws what a Sequence renders, at screen or model resolution.
//
// # Families
//
// "blank": a uniform field.
//
//	level  int 0..255, default 128 (mean gray)
//
// "grating": a full-field drifting sinusoidal grating with mean 128 and
// amplitude 127*contrast.
//
//	orientation_deg   direction of the wave vector (the drift direction),
//	                  counter-clockwise from rightward with y pointing up the
//	                  screen: 0 = vertical bars drifting right, 90 =
//	                  horizontal bars drifting up; [-360,360], default 0
//	cycles_per_width  spatial frequency in cycles across the frame width;
//	                  [0, width/2], default 4
//	temporal_freq_hz  drift rate in cycles per second; [0, rate/2], default 2
//	contrast          Michelson contrast; [0,1], default 1
//	phase_deg         phase at the frame centre at frame 0; [-360,360],
//	                  default 0
//	segment_frames    0 (default) keeps one orientation; n > 0 changes the
//	                  orientation every n frames (see below)
//	orientations_deg  the orientations drawn from when segment_frames > 0;
//	                  1..360 distinct values in [-360,360]; default the 8
//	                  orientations 0, 22.5, ..., 157.5
//
// With segment_frames = n > 0, frames [0, n) show orientation_deg and every
// later segment of n frames shows an orientation from orientations_deg. The
// later segments walk through seeded random permutations of the list, one
// permutation after another, so every orientation is shown equally often
// and two consecutive segments never show the same orientation (when the
// list has more than one entry). The drift phase runs on across segment
// boundaries.
//
// A field given as JSON null takes its default. Unknown fields are
// rejected.
package stimuli
