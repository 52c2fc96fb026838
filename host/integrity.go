package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/twinrig/twinrig/host/record"
	"github.com/twinrig/twinrig/host/supervise"
)

// journalLaunches records in the session's journal which plugin binaries
// attempt a started (each with its SHA-256). A failure is logged: the
// session goes on.
func journalLaunches(rec *record.Dir, a supervise.Attempt, log *slog.Logger) {
	for _, l := range a.Plugins.Launched(a.N) {
		if err := rec.Journal(l); err != nil {
			log.Error("journal entry not recorded", "kind", l.Kind(), "plugin", l.Plugin, "err", err)
		}
	}
}

// sessionName names a new session: the config's name, the UTC time to
// the second and a random suffix, so that hosts started in the same
// second (on one rig, writing to one output directory) do not collide. It
// is a valid MQTT topic level and directory name.
func sessionName(base string, now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return fmt.Sprintf("%s-%s-%s", base, now.UTC().Format("20060102T150405Z"), hex.EncodeToString(b[:]))
}
