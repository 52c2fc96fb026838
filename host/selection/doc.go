// Package selection chooses what a select block shows its targets: it
// implements session.Selector with package host/mei. The candidate pool
// (natural clips, Gabor patches, noise images, as the select block says)
// is rendered by the stimulus plugin (rig.Renderer) at the model's frame
// size and rate, ranked for every target by the adapted model
// (rig.Evaluator), each target's best item of each kind kept as its
// control, and its most exciting inputs synthesised, warm-started from its
// best Gabors.
package selection
