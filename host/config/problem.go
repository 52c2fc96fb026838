package config

import (
	"errors"
	"fmt"

	"github.com/twinrig/twinrig/rig"
)

// ErrInvalid is matched (errors.Is) by every problem a config has. It is
// rig.ErrInvalid, so callers may test either.
var ErrInvalid = rig.ErrInvalid

// Problem is one thing wrong with a config file: where it is, which field it
// concerns, and what is wrong.
type Problem struct {
	// File is the name the config was parsed under (the path given to Load).
	File string
	// Line and Column locate the problem, both counted from 1.
	Line, Column int
	// Field is the dotted path of the field concerned, e.g.
	// "plugins.model.path" or "plugins.stimulus.args[2]"; empty for
	// problems with the file as a whole, such as YAML syntax errors.
	Field string
	// Msg says what is wrong: the value found and what was expected.
	Msg string
}

// Error formats the problem as "file:line:col: field: msg" (without
// "field: " when Field is empty).
func (p *Problem) Error() string {
	if p.Field == "" {
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", p.File, p.Line, p.Column, p.Field, p.Msg)
}

// Unwrap returns ErrInvalid.
func (p *Problem) Unwrap() error { return ErrInvalid }

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
