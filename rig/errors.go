package rig

import "errors"

// Sentinel errors. They survive the process boundary: a plugin returning an
// error that wraps one of them makes errors.Is true on the host side.
var (
	// ErrInvalid: a request or setting is malformed or out of range.
	ErrInvalid = errors.New("invalid argument")
	// ErrContract: a model or device does not fit the twinrig contract.
	ErrContract = errors.New("does not fit the contract")
	// ErrState: the call is not valid in the plugin's current state
	// (e.g. Read before Start).
	ErrState = errors.New("wrong state")
	// ErrUnsupported: the plugin does not implement the request.
	ErrUnsupported = errors.New("not supported")
)
