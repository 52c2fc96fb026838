// Package pipeline moves frames: it presents one stimulus at a time on the
// stimulus plugin and carries the frames that were shown to the
// acquisition and to the model, and what comes back (scans, predictions)
// to a Sink. It knows nothing of stages, protocols or scores.
//
// Frames travel in batches (Config.Batch display frames) through three
// concurrent steps:
//
//  1. the stimulus plugin presents the stimulus (a specification or a
//     rig.FrameSequence) and the frames it reports are batched;
//  2. each batch goes to the acquisition (Observe; the pixels are left out
//     when the acquisition ignores them, AcquisitionInfo.IgnoresFrames),
//     then Sink.Shown; the scans taken up to the batch's last frame are read
//     (Read), checked and handed to Sink.Scanned;
//  3. every Subsample-th display frame (counted over the whole session, so
//     the phase carries across presentations) goes to the model on a
//     rig.PredictStream with the behaviour of the latest scan at or before
//     it (zero-order hold; the zero value before the first scan); the
//     responses, reordered into the acquisition's neuron order
//     (Config.Columns), go to Sink.Predicted.
//
// The steps overlap (the model computes batch n while the acquisition takes
// batch n+1 and the stimulus renders n+2). Sink.Shown, Sink.Scanned and
// Sink.Passed are called from one goroutine, Sink.Predicted from another; a
// Sink must let them run concurrently with each other (and, on the real
// clock, with the caller of Present).
//
// On the virtual clock Present returns once its frames' scans and
// predictions have reached the Sink, and the stimulus plugin waits for the
// rest (the queue to the acquisition holds 8 batches). On the real clock
// the display never waits: the frames go into a queue that does not block,
// Present returns once the last frame was shown, and steps 2 and 3 run on
// in the background across presentations until Settle (or Collect) waits
// for them. Two batches are in flight to the model; while it takes longer
// per frame than the display gives it, one is, and the batches waiting for
// it are skipped but the newest. What fell behind (frames dropped, scans and
// predictions late, predictions skipped) is counted by presentation: Lag.
//
// Errors a plugin returned or caused are wrapped in a *PluginError naming
// the plugin.
package pipeline
