package rig

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Loopback serves impl (a Stimulus, Acquisition or Model) over a real gRPC
// connection inside this process and returns a client of the same kind that
// goes through the wire contract, plus a function that closes both ends.
// It is for tests and benchmarks: rigtest runs its conformance suites
// through it, so a plugin is tested the way the host will call it.
func Loopback(impl any) (client any, closeFn func(), err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("loopback: %w", err)
	}
	srv := grpc.NewServer(serverOptions(MaxMessageBytes)...)
	switch v := impl.(type) {
	case Stimulus:
		_ = (&stimulusPlugin{impl: v}).GRPCServer(nil, srv)
	case Acquisition:
		_ = (&acquisitionPlugin{impl: v}).GRPCServer(nil, srv)
	case Model:
		_ = (&modelPlugin{impl: v}).GRPCServer(nil, srv)
	default:
		lis.Close()
		return nil, nil, fmt.Errorf("loopback: %T is not a Stimulus, Acquisition or Model: %w", impl, ErrInvalid)
	}
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(),
		append(dialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		srv.Stop()
		return nil, nil, fmt.Errorf("loopback: %w", err)
	}
	closeFn = func() { _ = conn.Close(); srv.Stop() }
	switch impl.(type) {
	case Stimulus:
		var p stimulusPlugin
		client, err = p.GRPCClient(context.Background(), nil, conn)
	case Acquisition:
		var p acquisitionPlugin
		client, err = p.GRPCClient(context.Background(), nil, conn)
	default:
		var p modelPlugin
		client, err = p.GRPCClient(context.Background(), nil, conn)
	}
	return client, closeFn, err
}
