//go:build !unix

package rig

import "io/fs"

// unixSockets: go-plugin serves plugins on loopback TCP here, so there is
// no socket directory.
const unixSockets = false

// processRunning is never asked where there are no socket directories.
func processRunning(int) bool { return true }

// ownedByMe is never asked where there are no socket directories.
func ownedByMe(fs.FileInfo) bool { return false }
