// Package protocols holds twinrig's experiment protocols: the file format,
// its loader and validator, and the shipped protocol files (*.yaml in this
// directory). docs/protocols.md is the reference of every field, default
// and limit.
//
// # Version 2: experiments
//
// A version 2 file describes a closed-loop experiment as a list of blocks,
// each of one kind: present (show stimuli, record the responses), adapt
// (fit the model's readout to the recorded neurons), select (choose target
// neurons, rank a candidate pool, synthesise most exciting inputs) and
// verify (show each target's MEIs among controls):
//
//	version: 2
//	name: inception-loop
//	blank: {family: blank}        # shown between trials
//	inter_trial: 0s               # default blank after each trial
//	blocks:
//	  - present:
//	      name: mapping
//	      trials: [{duration: 8m, stimulus: {family: natural, seed: 11}}]
//	  - present:
//	      name: test
//	      trials:
//	        - {duration: 5s, stimulus: {family: natural, seed: 101}}
//	        - {duration: 5s, stimulus: {family: natural, seed: 102}}
//	      repeats: 10
//	      order: random           # reshuffled every repeat, from the seed
//	      seed: 2
//	  - adapt: {name: fit, from: [mapping], hold_out: [test], indicator_decay: 1.25s}
//	  - select:
//	      name: targets
//	      neurons: {best: 20, by: cc_norm, from: test}
//	      pool: {natural: {clips: 200}, gabor: {orientations: 8}}
//	      synthesise: {images: 1}
//	  - verify: {name: verify, select: targets, controls: [best_natural, best_gabor, blank], repeats: 10, alpha: 0.05}
//
// [ParseExperiment] and [LoadExperiment] check everything before anything
// runs and report every problem at once, each a [*Problem] printed as
// "file:line:col: field: what is wrong": unknown keys and block kinds,
// duplicate names, references to missing blocks, to blocks of the wrong
// kind or to later ones, held-out blocks that do not repeat, impossible
// repeats and durations, a select before any adapt, stimulus files that do
// not exist. The stimulus specifications themselves belong to the stimulus
// plugin; [Experiment.CheckStimuli] runs a stimulus library's validation
// over them and reports its errors at their place in the file (twinrig
// validate does so with the built-in library).
//
// # Version 1: the legacy format
//
// Version 1 is kept only so that old files still load; the shipped
// protocols are version 2 (their version 1 originals are in
// testdata/v1). A version 1 file is a list of blocks shown back to back:
//
//	version: 1                 # the protocol format version
//	name: gratings-60s
//	description: free text
//	blocks:                    # shown in order, back to back
//	  - name: gratings
//	    duration: 60s          # Go duration syntax; rounded to whole display frames
//	    repeats: 1             # optional: shown this many times in a row (test clips)
//	    adapt:                 # optional: after this block, fit the model's readout to
//	      indicator_decay: 1.25s   # the recorded neurons (repeated blocks held out)
//	    stimulus:              # passed to the stimulus plugin as JSON
//	      family: grating
//	      seed: 7
//	      segment_frames: 30
//
// [Load] and [Parse] read it into a [Protocol]; [LoadExperiment] reads it
// too, converted by [FromProtocol] into the Experiment that runs the same
// session. Write new protocols in version 2.
package protocols
