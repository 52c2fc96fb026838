package rig

import (
	"context"
	"fmt"
	"net"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// LoopbackStimulus serves impl over a real gRPC connection inside this
// process and returns a client that goes through the wire contract (it
// also implements Renderer, as a launched plugin's does), plus a function
// that closes both ends. It is for tests and benchmarks: rigtest runs its
// conformance suites through it, so a plugin is tested the way the host
// will call it.
func LoopbackStimulus(impl Stimulus) (Stimulus, func(), error) {
	if impl == nil {
		return nil, nil, fmt.Errorf("loopback: no stimulus implementation: %w", ErrInvalid)
	}
	return loopback[Stimulus](&stimulusPlugin{impl: impl})
}

// LoopbackAcquisition is LoopbackStimulus for an acquisition plugin (the
// client also implements TruthTeller, as a launched plugin's does).
func LoopbackAcquisition(impl Acquisition) (Acquisition, func(), error) {
	if impl == nil {
		return nil, nil, fmt.Errorf("loopback: no acquisition implementation: %w", ErrInvalid)
	}
	return loopback[Acquisition](&acquisitionPlugin{impl: impl})
}

// LoopbackModel is LoopbackStimulus for a model plugin (the client also
// implements Evaluator and Adapter, as a launched plugin's does).
func LoopbackModel(impl Model) (Model, func(), error) {
	if impl == nil {
		return nil, nil, fmt.Errorf("loopback: no model implementation: %w", ErrInvalid)
	}
	return loopback[Model](&modelPlugin{impl: impl})
}

// loopback serves p on a loopback TCP port and dials it.
func loopback[T any](p plugin.GRPCPlugin) (T, func(), error) {
	var zero T
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return zero, nil, fmt.Errorf("loopback: %w", err)
	}
	srv := grpc.NewServer(serverOptions(MaxMessageBytes)...)
	if err := p.GRPCServer(nil, srv); err != nil {
		lis.Close()
		return zero, nil, fmt.Errorf("loopback: %w", err)
	}
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(),
		append(dialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		srv.Stop()
		return zero, nil, fmt.Errorf("loopback: %w", err)
	}
	closeFn := func() { _ = conn.Close(); srv.Stop() }
	raw, err := p.GRPCClient(context.Background(), nil, conn)
	if err != nil {
		closeFn()
		return zero, nil, fmt.Errorf("loopback: %w", err)
	}
	client, ok := raw.(T)
	if !ok {
		closeFn()
		return zero, nil, fmt.Errorf("loopback: the client is a %T, want a %T: %w", raw, (*T)(nil), ErrInvalid)
	}
	return client, closeFn, nil
}
