//go:build !unix

package rig

// abortGroup reports false where there are no Unix process groups.
func (p *Process) abortGroup() bool { return false }
