package rig

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// Ping asks the plugin process whether it still answers: one call of
// go-plugin's gRPC health service, bounded by ctx (go-plugin's own
// ClientProtocol.Ping has no deadline, and a stopped process never
// answers). It is answered by the plugin's gRPC server, not by its
// handlers, so it tells a live process from a frozen one (SIGSTOP, a
// process that no longer runs); a deadlocked handler is caught by the
// deadlines of the calls (see Deadlines).
func (p *Process) Ping(ctx context.Context) error {
	cp, err := p.client.Client()
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	gc, ok := cp.(*plugin.GRPCClient)
	if !ok {
		return cp.Ping()
	}
	if _, err := grpc_health_v1.NewHealthClient(gc.Conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName}); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Abort ends the plugin at once, without asking it first (a hung plugin
// would not answer, and Kill's graceful shutdown would wait for it): it
// sends SIGKILL to the plugin's process group (on Unix; elsewhere to the
// plugin process). Kill must still be called to release the client.
func (p *Process) Abort() {
	if p.abortGroup() {
		return
	}
	if pid := p.Pid(); pid > 0 {
		if proc, err := os.FindProcess(pid); err == nil {
			_ = proc.Kill()
		}
	}
}
