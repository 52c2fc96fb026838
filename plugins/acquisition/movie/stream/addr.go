package stream

import (
	"fmt"
	"strings"

	"github.com/twinrig/twinrig/rig"
)

// ParseAddr splits an address such as "tcp://0.0.0.0:5555",
// "unix:///run/twinrig/scope.sock" or a bare "host:port" (TCP) into the
// network and address that net.Listen and net.Dial take. The networks are
// tcp, tcp4, tcp6 and unix; anything else wraps rig.ErrInvalid.
func ParseAddr(s string) (network, addr string, err error) {
	network, addr, ok := strings.Cut(s, "://")
	if !ok {
		network, addr = "tcp", s
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return "", "", fmt.Errorf("stream: address %q: network %q, want tcp, tcp4, tcp6 or unix: %w", s, network, rig.ErrInvalid)
	}
	if addr == "" {
		return "", "", fmt.Errorf("stream: address %q has no host:port or socket path: %w", s, rig.ErrInvalid)
	}
	return network, addr, nil
}
