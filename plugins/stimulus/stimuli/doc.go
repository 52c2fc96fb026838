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
// in, from any number of goroutines. Random numbers come from PCG streams
// keyed by the seed and by what they are for (a flash, a dot's life, a
// noise field), never from shared state, and nothing depends on map order
// or scheduling. Phases and sub-pixel offsets are 64-bit fixed-point
// integers, the noise fields are sampled in integer arithmetic, and the
// floating-point expressions that remain are written so that the compiler
// cannot fuse them into multiply-adds; the golden hashes in testdata were
// made on linux/amd64 (math.Exp and math.Sincos may differ in the last bit
// on other architectures, which can move a pixel by one gray level).
//
// Performance: every family renders a 256x144 frame in well under 1/600 s
// on one core (BenchmarkFamilies); the noise-based families (pink_noise,
// natural, video's default) and gabor draw a 1920x1080 frame in about
// 10-30 ms.
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
// Positions are fractions of the frame (x from the left, y from the top),
// sizes are fractions of the frame width and speeds are frame widths per
// second, so that one spec looks the same at the model's 256x144 and at a
// screen's size. Directions are counter-clockwise from rightward with y up
// the screen, as for the grating.
//
// "gabor": drifting Gabor patches on mean gray: 128 + 127*contrast times
// the sum over patches of exp(-d^2/(2 sigma^2)) sin(2 pi (k.d - tf t) +
// phase), d the offset from the patch centre.
//
//	orientation_deg   as for the grating; default 0
//	cycles_per_width  carrier frequency; [0, width/2], default 8
//	temporal_freq_hz  [0, rate/2], default 2
//	phase_deg         carrier phase at the patch centre at frame 0; default 0
//	contrast          [0,1], default 1 (sums of overlapping patches clip)
//	sigma             envelope s.d., fraction of the width; [0.001,1],
//	                  default 0.08
//	x, y              the patch centre; [0,1], default 0.5
//	positions         1..64 [x, y] centres, one patch each; overrides x, y
//
// "dots": flashing Gaussian dots on mean gray, one at a time: flash k
// shows 128 +/- 127*contrast*exp(-d^2/(2 sigma^2)) for on_frames frames,
// then mean gray for off_frames frames.
//
//	layout      "grid" (default): the centres of a rows x cols grid, each
//	            block of rows*cols flashes a seeded permutation of the
//	            cells; "random": a seeded uniform position per flash
//	rows, cols  [1,256], default 5 x 9
//	sigma       fraction of the width; [0.001,1], default 0.03
//	polarity    "on" (bright), "off" (dark) or "both" (seeded coin per
//	            flash, default)
//	contrast    [0,1], default 1
//	on_frames   [1, 2^31-1], default 15; off_frames [0, 2^31-1], default 15
//
// "pink_noise": directional pink noise: one periodic random field with
// power spectrum 1/f^alpha (f the radial spatial frequency), drawn from
// the seed once at New by an inverse FFT of size width x height rounded up
// to powers of two, translated rigidly every frame with sub-pixel
// (1/4096 pixel) Keys-cubic interpolation. Gray = 128 + 128*contrast*z,
// z of unit s.d., clipped. At fractional offsets the interpolation
// attenuates the finest scales (at a half-pixel offset: by 12 % in
// amplitude at a quarter of the sampling frequency, fully at the Nyquist
// frequency), so the finest grain flickers slightly as the noise drifts.
//
//	alpha          spectral exponent of the power; [0,4], default 1
//	contrast       RMS contrast; [0,1], default 0.2
//	direction_deg  drift direction; default 0
//	speed          frame widths per second; [0,10], default 0.1
//
// "rdk": random dot kinematograms: round(density * height/width) dots
// (disks of dot_radius, 128 +/- 127*contrast) on mean gray, wrapping
// around the edges. Dot slots below round(coherence * n) move in
// direction_deg; the others each move in a direction drawn at random for
// each of its lives, all at the same speed. A slot lives lifetime frames
// and is then reborn at a random place; slots' lives are staggered by a
// seeded offset. A dot's position at frame i is computed in closed form
// from the seed, its slot, its life number and its age, so rendering frame
// i needs no earlier frame and no simulation.
//
//	coherence      [0,1], default 0.5
//	direction_deg  default 0
//	speed          frame widths per second; [0,10], default 0.2
//	density        dots per frame-width squared; [0,10000], default 150
//	               (at most 100000 dots)
//	dot_radius     fraction of the width; [0.0005,0.25], default 0.008
//	lifetime       frames; 0 = unlimited; default 30
//	polarity       "on", "off" or "both" (seeded per life, default)
//	contrast       [0,1], default 1
//
// "natural": a procedurally generated naturalistic video, so that a
// session needs no download: a periodic 1/f^alpha background seen by a
// camera drifting smoothly (a mean velocity plus three slow sinusoids per
// axis) and occluding ellipses, each with its own gray level, texture,
// spin and smooth path, leaving one edge and coming back at the other. All
// motion is a closed-form function of time.
//
//	alpha         background spectrum exponent; [0,4], default 2
//	contrast      background RMS contrast; [0,1], default 0.25
//	objects       [0,64], default 6
//	drift_speed   camera, frame widths per second; [0,10], default 0.05
//	object_speed  [0,10], default 0.1
//
// "images": static images, each shown for on_frames frames followed by
// off_frames frames of mean gray, in list order, repeating.
//
//	paths       1..10000 PNG or JPEG files (relative paths are relative to
//	            the process's working directory); each is read, converted
//	            to gray (Rec. 601 luma of the encoded values, JPEG's own
//	            luma plane) and resampled at New, so a missing or corrupt
//	            file fails New with its name and nothing is shown
//	count       without paths: that many built-in stills (frames of the
//	            "natural" family 10 s apart); [1,64], default 4
//	on_frames   [1, 2^31-1], default 30; off_frames [0, 2^31-1], default 30
//	fit         "cover" (default): scale to fill the frame and crop the
//	            excess equally from both sides; "contain": scale to fit
//	            inside and pad with mean gray; "stretch": scale each axis
//
// Resampling averages source areas when shrinking and interpolates
// linearly between pixel centres when enlarging.
//
// "video": natural video from a file, decoded entirely at New (bounded by
// max_frames and by 2 GiB of frames) so that Render only copies. Display
// frame i shows source frame floor(i * source_rate / rate); the clip
// repeats.
//
//	path            a video file (mp4 and anything else ffmpeg reads,
//	                decoded by an ffmpeg subprocess: install ffmpeg to use
//	                this), a directory of PNG/JPEG frames or a glob pattern
//	                of them (sorted by name; no ffmpeg needed). Without
//	                path: the "natural" family with its defaults
//	source_rate_hz  the source's frame rate; default the file's average
//	                frame rate, 30 for image sequences
//	max_frames      [1, 2^20], default 1800
//	fit             as for images
//
// "frames": arbitrary frame sequences, e.g. synthesised most exciting
// inputs: frame k is shown for hold_frames frames, the list repeating.
//
//	width, height  the frames' size; [1,16384]; required with frames or path
//	frames         1..100000 frames, each standard base64 of width*height
//	               bytes of 8-bit gray, row-major, top row first
//	path           instead of frames: a raw file of such frames back to back
//	hold_frames    [1, 2^31-1], default 1
//	fit            as for images, default "stretch"
//
// Without frames or path the family shows 8 frames of seeded 32x18 binary
// noise, 15 frames each.
//
// A field given as JSON null takes its default. Unknown fields are
// rejected. The noise-based families need the frame's sides, rounded up
// to powers of two, to multiply to at most 2^24 (4096 x 4096).
package stimuli
