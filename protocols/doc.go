// Package protocols holds twinrig's experiment protocols: the file format,
// its loader and validator, and the shipped protocol files (*.yaml in this
// directory).
//
// A protocol is a declarative YAML file:
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
// The stimulus mapping is validated by the stimulus plugin (it knows its
// families); this package checks the structure around it.
package protocols
