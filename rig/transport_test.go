package rig

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/twinrig/twinrig/rig/internal/wire"
)

// The codec round-trips messages below and above gRPC's pooling threshold,
// and the decoded message owns its bytes after the pooled buffer is freed.
func TestCodecRoundTrip(t *testing.T) {
	for _, size := range []int{0, 100, 36864, 1 << 20} {
		px := make([]byte, size)
		for i := range px {
			px[i] = byte(i * 7)
		}
		in := &wire.Frame{Width: int32(size), Height: 1, Pixels: px}
		data, err := codec{}.Marshal(in)
		require.NoError(t, err)
		out := &wire.Frame{}
		require.NoError(t, codec{}.Unmarshal(data, out))
		data.Free()
		// Reuse the pool so a decoded message that aliased a freed buffer
		// would see it overwritten.
		junk, err := codec{}.Marshal(&wire.Frame{Pixels: make([]byte, size)})
		require.NoError(t, err)
		junk.Free()
		require.True(t, proto.Equal(in, out), "size %d", size)
	}
	_, err := codec{}.Marshal(42)
	require.Error(t, err)
}
