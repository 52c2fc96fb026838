// Package session runs a twinrig session: it plays a protocol's blocks on
// the stimulus plugin, streams the frames that were shown to the model (at
// the model's frame rate) and to the acquisition (whose simulated neurons
// respond to them), collects the recorded scans, aligns the model's
// predictions with them in time and scores every neuron.
//
// The package depends only on the rig interfaces, so any implementation (a
// plugin process, an in-process fake) can stand in for a plugin.
//
// Frame path. Frames travel in batches (about a third of a second of display
// frames by default) through a three-stage pipeline: the stimulus plugin
// streams frames; each batch goes to the acquisition (Observe, then Read up
// to the batch's last frame time), then to the model (every k-th display
// frame, k = display rate / model rate) with the behaviour of the latest
// scan at or before each frame, on a PredictStream. Batches amortise the
// gRPC round trip and the stages overlap (the model computes batch n while
// the acquisition takes batch n+1 and the stimulus renders n+2), so on the
// virtual clock a session runs as fast as the slowest stage allows.
//
// Alignment. When both plugins name their neurons, each recorded neuron is
// paired with the model's neuron of the same id (the model may predict more
// neurons than are recorded); otherwise neuron i of the model is neuron i of
// the acquisition. Each scan
// at time t is paired with the model's prediction for the latest model frame
// shown at or before t (the frame the neuron was seeing). Scans paired with
// one of the model's burn-in frames after its reset (ModelInfo.BurnInFrames)
// are not scored. Accuracy is the single-trial Pearson r per neuron over all
// scored scans (docs/science.md#accuracy).
package session
