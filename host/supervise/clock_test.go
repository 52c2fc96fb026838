package supervise

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// TestForClock: the virtual clock's heartbeat tolerates a starved plugin
// (3 s per ping, 3 misses); the real clock keeps the defaults (hung in
// under 2 s); fields already set are kept.
func TestForClock(t *testing.T) {
	v := (&Supervisor{}).ForClock(rig.VirtualClock)
	require.Equal(t, VirtualPingTimeout, v.PingTimeout)
	require.Equal(t, VirtualMisses, v.Misses)
	r := (&Supervisor{}).ForClock(rig.RealClock)
	require.Zero(t, r.PingTimeout)
	require.Zero(t, r.Misses)
	set := (&Supervisor{PingTimeout: time.Second, Misses: 1}).ForClock(rig.VirtualClock)
	require.Equal(t, time.Second, set.PingTimeout)
	require.Equal(t, 1, set.Misses)
	// The real clock's defaults detect a hang within 2 s.
	require.Less(t, DefaultHeartbeat+time.Duration(DefaultMisses)*DefaultPingTimeout, 2*time.Second)
}
