// Package timeline holds what a session recorded, in session time: the
// scans (recorded responses with behaviour), the model's predictions (one
// per model step), the trial windows (which stage, trial, repeat and
// condition was on screen when) and each block's span; and answers what
// the stages ask of it: which model step was on screen at a scan, the
// predictions and scans of a span or of a set of blocks (the data an
// adapt block fits on), a neuron's response to a trial (the verification
// window of package host/verify).
//
// Scans and predictions arrive in time order. AddScans and AddPredictions
// may run concurrently with each other (the pipeline calls them from two
// goroutines); every other method must not run concurrently with any.
package timeline
