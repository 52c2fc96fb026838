package main

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSessionNamesAreUnique: hosts started in the same second get
// different session names, each a valid topic level and directory name.
func TestSessionNamesAreUnique(t *testing.T) {
	now := time.Date(2026, 11, 26, 18, 25, 0, 0, time.FixedZone("CET", 3600))
	seen := map[string]bool{}
	for range 20 {
		name := sessionName("demo", now)
		require.Regexp(t, regexp.MustCompile(`^demo-20261126T172500Z-[0-9a-f]{8}$`), name)
		require.False(t, seen[name], "%s twice", name)
		seen[name] = true
	}
}
