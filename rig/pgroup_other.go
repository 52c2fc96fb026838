//go:build !unix

package rig

import "os/exec"

// ownProcessGroup does nothing where there are no Unix process groups.
func ownProcessGroup(*exec.Cmd) {}

// killGroup does nothing where there are no Unix process groups.
func (p *Process) killGroup() {}
