// Package rigfake holds fakes of the twinrig plugin interfaces for tests,
// in the style of a recording test double: each fake behaves
// deterministically, keeps every request it was given, and passes the
// conformance suites of package rigtest, so a test can drive a host (or a
// plugin author's own code) with it and then assert on what was asked.
//
// # Fakes
//
// Stimulus (a rig.Stimulus and rig.Renderer) shows uniform gray frames.
// Its families are "levels", whose frame k (counted at the display rate
// from the onset) has the gray level Level(seed, k), "gray", a constant
// level (the spec's "level", default 128), and "blank", mid-gray (128, the
// protocols' default blank). It also shows frame sequences
// (StimulusInfo.Sequences). It records every Configure request, every
// Present (the request, the frames emitted, the response and the error:
// PresentCall) and every Render request.
//
// Acquisition (a simulated rig.Acquisition) has neurons that respond to
// the frames observed: at each scan, neuron n of N reports Response(f, N)[n]
// for the frame f on screen at the scan's time (mid-gray before the first
// frame), plus, when NoiseSD is set, Gaussian noise drawn from Seed and the
// scan's index; each scan carries the behaviour Behaviour gives it (zero
// when unset). It records every Configure, Observe (frames copied) and
// Read (the request and the scans answered: ReadCall).
//
// Model (a rig.Model, and when its Info says so a rig.Evaluator and a
// rig.Adapter) predicts Response(f, N) for every frame f: a perfect model
// of Acquisition's noiseless neurons, or any function of the frame set in
// Respond. It has no dynamics, so Evaluate is the mean of the candidate's
// per-frame responses after Skip. It records every Reset, Predict,
// Evaluate and Adapt request.
//
// Every fake and playback embeds a CallLog, the names of the methods
// called in order, and takes a Fail hook that can make any method fail
// (fault injection).
//
// # Record and playback
//
// A Recorder wraps a real rig.Stimulus and rig.Acquisition (in process,
// or the clients of launched plugins) and keeps what passes through them:
// their Describe answers, every presented block with the frames shown
// (pixels and times), and every scan read. The Recording it makes is
// written to and read from a file with Encode and Decode (WriteFile,
// ReadFile). PlaybackStimulus replays the recorded blocks' shown frames;
// PlaybackAcquisition replays the recorded scans in time order, up to each
// Read's Until.
//
// # Recording file format
//
// A recording file starts with the 8 bytes "TWRGREC" and a version byte
// (1), followed by records until the end of the file. A record is a tag
// byte, the payload's length as an unsigned varint (encoding/binary's
// Uvarint) and the payload. Signed integers are varints (encoding/binary's
// Varint), floats are their IEEE 754 bits, little-endian, so that NaN
// and every value round-trip exactly. The tags are:
//
//	'S'  the stimulus's rig.StimulusInfo, as JSON (at most one)
//	'A'  the acquisition's rig.AcquisitionInfo, as JSON (at most one)
//	'B'  a presented block, as JSON: {"id", "spec" (the spec's text),
//	     "sequence", "frames", "width", "height", "clock", "start_ns",
//	     "shown", "dropped", "err"}; the 'F' records after it are its
//	     shown frames
//	'F'  a shown frame: varint index, varint time (ns), a byte dropped (0
//	     or 1), varint width, varint height, uvarint pixel count, pixels
//	'C'  a scan: varint index, varint time (ns), varint source time (ns),
//	     a byte (1: a host time follows, 0: none), [varint host time, Unix
//	     ns], 4 float32 behaviour values (pupil x, pupil y, pupil radius,
//	     treadmill), uvarint value count, float32 values
//
// Decode rejects anything else (an unknown tag, a truncated record, bytes
// left over in a payload, a frame before any block) with an error wrapping
// rig.ErrInvalid that names the record.
package rigfake
