package protocols

import (
	"errors"
	"fmt"

	"github.com/twinrig/twinrig/rig"
)

// Problem is one thing wrong with an experiment file (format version 2):
// where it is, which field it concerns and what is wrong. Every Problem
// matches rig.ErrInvalid with errors.Is.
type Problem struct {
	// File is the name the protocol was parsed under.
	File string
	// Line and Column locate the problem, both counted from 1.
	Line, Column int
	// Field is the dotted path of the field concerned, such as
	// "blocks[2].adapt.hold_out[0]"; empty for the file as a whole (YAML
	// syntax errors).
	Field string
	// Msg says what is wrong: the value found and what was expected.
	Msg string
}

// Error formats the problem as "file:line:col: field: msg" (without
// "field: " when Field is empty), the format of version 1 errors.
func (p *Problem) Error() string {
	if p.Field == "" {
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", p.File, p.Line, p.Column, p.Field, p.Msg)
}

// Unwrap returns rig.ErrInvalid.
func (p *Problem) Unwrap() error { return rig.ErrInvalid }

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
