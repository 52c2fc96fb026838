package protocols

import (
	"errors"

	"github.com/twinrig/twinrig/internal/yamldoc"
)

// Problem is one thing wrong with an experiment file (format version 2):
// where it is (File, Line, Column, counted from 1), which field it concerns
// (a dotted path such as "blocks[2].adapt.hold_out[0]"; empty for the file
// as a whole, such as YAML syntax errors) and what is wrong (Msg: the value
// found and what was expected). It formats as "file:line:col: field: msg",
// the format of version 1 errors, and matches rig.ErrInvalid with
// errors.Is. It is the YAML decoder's problem type, shared with the rig
// config's.
type Problem = yamldoc.Problem

// Problems returns the problems an error from ParseExperiment,
// LoadExperiment or Experiment.CheckStimuli holds, in order. It returns nil
// for an error that holds none, such as a file that cannot be read, and
// for the errors of a version 1 file (those are plain errors, formatted the
// same way).
func Problems(err error) []*Problem {
	var out []*Problem
	var walk func(error)
	walk = func(err error) {
		var p *Problem
		switch j, ok := err.(interface{ Unwrap() []error }); {
		case ok:
			for _, e := range j.Unwrap() {
				walk(e)
			}
		case errors.As(err, &p):
			out = append(out, p)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}
