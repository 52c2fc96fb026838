package config

import (
	"errors"

	"github.com/twinrig/twinrig/internal/yamldoc"
	"github.com/twinrig/twinrig/rig"
)

// ErrInvalid is matched (errors.Is) by every problem a config has. It is
// rig.ErrInvalid, so callers may test either.
var ErrInvalid = rig.ErrInvalid

// Problem is one thing wrong with a config file: where it is (File, the
// path given to Load; Line and Column, counted from 1), which field it
// concerns (a dotted path such as "plugins.model.path"; empty for the file
// as a whole, such as YAML syntax errors) and what is wrong (Msg). It
// formats as "file:line:col: field: msg" and matches ErrInvalid. It is the
// YAML decoder's problem type, shared with the protocols'.
type Problem = yamldoc.Problem

// Problems returns the problems in an error returned by Parse or Load, in
// the order they were reported (by position in the file). It returns nil for
// errors that hold none, such as a file that cannot be read.
func Problems(err error) []*Problem {
	var out []*Problem
	var walk func(error)
	walk = func(err error) {
		if p, ok := err.(*Problem); ok {
			out = append(out, p)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if next := errors.Unwrap(err); next != nil {
			walk(next)
		}
	}
	walk(err)
	return out
}
