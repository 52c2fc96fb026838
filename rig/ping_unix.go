//go:build unix

package rig

import "syscall"

// abortGroup sends SIGKILL to the plugin's process group and reports
// whether it has one.
func (p *Process) abortGroup() bool {
	if p.pgid <= 0 {
		return false
	}
	_ = syscall.Kill(-p.pgid, syscall.SIGKILL) // ESRCH: none left
	return true
}
