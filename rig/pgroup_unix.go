//go:build unix

package rig

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup makes cmd start in a process group of its own, whose
// id is its pid, so that the host can end the processes a plugin starts
// with it. Terminal signals (Ctrl-C) then reach the host alone, which
// ends its plugins itself.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup ends what is left of the plugin's process group (after the
// plugin itself has exited), once.
func (p *Process) killGroup() {
	p.groupOnce.Do(func() {
		if p.pgid > 0 {
			_ = syscall.Kill(-p.pgid, syscall.SIGKILL) // ESRCH: none left
		}
	})
}
