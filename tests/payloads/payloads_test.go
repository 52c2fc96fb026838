package payloads

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/simacq"
	"github.com/twinrig/twinrig/plugins/model/modelplugin"
	"github.com/twinrig/twinrig/rig"
)

// Network payloads: whatever frames a host (or an attacker on the socket)
// sends, the plugins answer through the wire contract with a result or an
// error, and never crash.

// frameFrom builds a frame whose declared size need not match its pixels.
func frameFrom(w, h int16, px []byte) rig.Frame {
	return rig.Frame{Width: int(w), Height: int(h), Pixels: px}
}

func FuzzModelPredictRequests(f *testing.F) {
	f.Add(int16(256), int16(144), make([]byte, 256*144), uint8(1), float32(0))
	f.Add(int16(256), int16(144), []byte{1, 2, 3}, uint8(2), float32(math.NaN()))
	f.Add(int16(-1), int16(0), []byte{}, uint8(0), float32(math.Inf(1)))
	m := modelplugin.New()
	f.Cleanup(func() { _ = m.Close() })
	c, closeFn, err := rig.LoopbackModel(m)
	require.NoError(f, err)
	f.Cleanup(closeFn)
	model := c.(rig.Model)
	ctx := context.Background()
	_, err = model.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neurons": 8}`)})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, w, h int16, px []byte, n uint8, behaviour float32) {
		req := rig.PredictRequest{}
		for range n % 4 {
			req.Frames = append(req.Frames, frameFrom(w, h, px))
		}
		if behaviour != 0 {
			req.Behaviour = make([]rig.Behaviour, int(n%3))
			for i := range req.Behaviour {
				req.Behaviour[i] = rig.Behaviour{PupilX: behaviour, Treadmill: behaviour}
			}
		}
		resp, err := model.Predict(ctx, req)
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		require.Len(t, resp.Responses, len(req.Frames))
		for _, r := range resp.Responses {
			for _, v := range r {
				require.True(t, v > 0 && !math.IsInf(float64(v), 0), "response %v", v)
			}
		}
	})
}

func FuzzAcquisitionObserveRequests(f *testing.F) {
	f.Add(int16(64), int16(36), make([]byte, 64*36), int64(0), int64(1e9))
	f.Add(int16(64), int16(36), []byte{9}, int64(-5), int64(-1))
	f.Add(int16(0), int16(-3), []byte{}, int64(math.MaxInt64), int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, w, h int16, px []byte, at, until int64) {
		c, closeFn, err := rig.LoopbackAcquisition(simacq.New())
		require.NoError(t, err)
		defer closeFn()
		acq := c.(rig.Acquisition)
		ctx := context.Background()
		_, err = acq.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neurons": 4}`)})
		require.NoError(t, err)
		_, err = acq.Start(ctx, rig.StartRequest{Clock: rig.VirtualClock, Epoch: time.Now()})
		require.NoError(t, err)
		// Bound how far the virtual clock may be pushed, as the host does.
		at %= int64(10 * time.Second)
		until %= int64(10 * time.Second)
		_, err = acq.Observe(ctx, rig.ObserveRequest{Frames: []rig.ShownFrame{{Time: time.Duration(at), Frame: frameFrom(w, h, px)}}})
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
		}
		resp, err := acq.Read(ctx, rig.ReadRequest{Until: time.Duration(until)})
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		for _, s := range resp.Scans {
			require.Len(t, s.Values, 4)
			require.LessOrEqual(t, s.Time, time.Duration(until))
		}
	})
}
