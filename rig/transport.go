package rig

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// bufferPool replaces gRPC's default buffer pool, whose tiers jump from
// 32 KiB to 1 MiB: every frame-sized message (a 256x144 frame is 36 KiB)
// then took a 1 MiB buffer that the pool zeroes on every Get, which cost
// about 300 us per call, twice the default model's whole step. Power-of-two
// tiers up to MaxMessageBytes keep the zeroing proportional to the message.
var bufferPool = func() mem.BufferPool {
	exps := make([]uint8, 0, 21)
	for e := uint8(8); 1<<e <= MaxMessageBytes; e++ {
		exps = append(exps, e)
	}
	p, err := mem.NewBinaryTieredBufferPool(exps...)
	if err != nil {
		panic(fmt.Sprintf("rig: buffer pool: %v", err))
	}
	return p
}()

// serverOptions are the gRPC options of every plugin server.
func serverOptions(maxMessageBytes int) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes),
		experimental.BufferPool(bufferPool),
		grpc.ForceServerCodecV2(codec{}),
	}
}

// dialOptions are the gRPC options of every host-side plugin client.
func dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes),
			grpc.ForceCodecV2(codec{})),
		experimental.WithBufferPool(bufferPool),
	}
}

// codec is gRPC's protobuf codec with bufferPool in place of the process
// default pool, which the stock codec uses whatever the options say. It is
// forced on twinrig's servers and clients only (ForceServerCodecV2,
// ForceCodecV2), so nothing else in the process is affected.
type codec struct{}

var _ encoding.CodecV2 = codec{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("rig: cannot marshal %T: not a protobuf message", v)
	}
	size := proto.Size(m)
	opts := proto.MarshalOptions{UseCachedSize: true} // safe: Size just ran
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	buf := bufferPool.Get(size)
	if _, err := opts.MarshalAppend((*buf)[:0], m); err != nil {
		bufferPool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, bufferPool)}, nil
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("rig: cannot unmarshal into %T: not a protobuf message", v)
	}
	buf := data.MaterializeToBuffer(bufferPool)
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m) // copies bytes fields out of buf
}
