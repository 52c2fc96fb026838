package tests

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/modelplugin"
	"github.com/twinrig/twinrig/rig"
)

const benchSettings = `{"model": "builtin:default", "neurons": 100, "threads": 1}`

// stepFrames returns n distinct 256x144 frames.
func stepFrames(n int) []rig.Frame {
	frames := make([]rig.Frame, n)
	for i := range frames {
		px := make([]byte, 256*144)
		for j := range px {
			px[j] = byte((j/7 + i*13) % 256)
		}
		frames[i] = rig.Frame{Width: 256, Height: 144, Pixels: px}
	}
	return frames
}

// benchSteps runs b.N model steps, batch frames per Predict call, and
// reports the per-frame time and the p50/p99 latency of one call in us.
func benchSteps(b *testing.B, m rig.Model, batch int) {
	ctx := context.Background()
	_, err := m.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(benchSettings)})
	require.NoError(b, err)
	frames := stepFrames(batch)
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := m.Predict(ctx, rig.PredictRequest{Frames: frames}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/frame")
	b.ReportMetric(pct(0.5), "p50-us/call")
	b.ReportMetric(pct(0.99), "p99-us/call")
}

// BenchmarkModelStep compares one step of the default model in process
// (the baseline) with the same step through the model plugin subprocess,
// one frame per call and ten frames per call.
func BenchmarkModelStep(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		m := modelplugin.New()
		defer m.Close()
		benchSteps(b, m, 1)
	})
	for _, batch := range []int{1, 10} {
		b.Run("plugin/batch="+strconv.Itoa(batch), func(b *testing.B) {
			p, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: filepath.Join(bin, "twinrig-model"), LogOutput: io.Discard})
			require.NoError(b, err)
			defer p.Kill()
			benchSteps(b, p.Model(), batch)
		})
	}
}

// BenchmarkModelStepStream measures throughput through the model plugin
// with the requests pipelined on a PredictStream (how a session feeds the
// model): the sender runs ahead, so transfer overlaps computation.
func BenchmarkModelStepStream(b *testing.B) {
	for _, batch := range []int{1, 10} {
		b.Run("plugin/batch="+strconv.Itoa(batch), func(b *testing.B) {
			p, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: filepath.Join(bin, "twinrig-model"), LogOutput: io.Discard})
			require.NoError(b, err)
			defer p.Kill()
			m := p.Model()
			ctx := context.Background()
			_, err = m.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(benchSettings)})
			require.NoError(b, err)
			stream, err := rig.OpenPredictStream(ctx, m)
			require.NoError(b, err)
			frames := stepFrames(batch)
			done := make(chan error, 1)
			n := b.N
			go func() {
				for range n {
					if _, err := stream.Recv(); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			b.ResetTimer()
			for range n {
				require.NoError(b, stream.Send(rig.PredictRequest{Frames: frames}))
			}
			require.NoError(b, <-done)
			b.StopTimer()
			require.NoError(b, stream.CloseSend())
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/frame")
		})
	}
}

// BenchmarkModelStepRatio compares, interleaved so that the machine's
// drift affects both alike, the default model in process (the baseline)
// with the same model through the plugin subprocess. Each round runs 200
// frames both ways as a session feeds them (batches of 10, pipelined on a
// PredictStream), and 20 single-frame Predict calls both ways for the
// latency. It reports the throughput ratio plugin/in-process and the
// overhead of one call (plugin latency minus the in-process median) at p50
// and p99.
func BenchmarkModelStepRatio(b *testing.B) {
	ctx := context.Background()
	settings := rig.ConfigureRequest{Settings: json.RawMessage(benchSettings)}
	local := modelplugin.New()
	defer local.Close()
	_, err := local.Configure(ctx, settings)
	require.NoError(b, err)
	p, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: filepath.Join(bin, "twinrig-model"), LogOutput: io.Discard})
	require.NoError(b, err)
	defer p.Kill()
	remote := p.Model()
	_, err = remote.Configure(ctx, settings)
	require.NoError(b, err)

	const batches, batch, calls = 20, 10, 20
	frames := stepFrames(batch)
	pipeline := func(m rig.Model) time.Duration {
		t0 := time.Now()
		stream, err := rig.OpenPredictStream(ctx, m)
		require.NoError(b, err)
		go func() {
			for range batches {
				if stream.Send(rig.PredictRequest{Frames: frames}) != nil {
					return
				}
			}
			_ = stream.CloseSend()
		}()
		for range batches {
			_, err := stream.Recv()
			require.NoError(b, err)
		}
		return time.Since(t0)
	}
	var tLocal, tRemote time.Duration
	var latLocal, latRemote []time.Duration
	for b.Loop() {
		tLocal += pipeline(local)
		tRemote += pipeline(remote)
		for range calls {
			for _, m := range []rig.Model{local, remote} {
				t0 := time.Now()
				_, err := m.Predict(ctx, rig.PredictRequest{Frames: frames[:1]})
				require.NoError(b, err)
				if m == remote {
					latRemote = append(latRemote, time.Since(t0))
				} else {
					latLocal = append(latLocal, time.Since(t0))
				}
			}
		}
	}
	slices.Sort(latLocal)
	slices.Sort(latRemote)
	q := func(l []time.Duration, f float64) time.Duration { return l[int(f*float64(len(l)-1))] }
	perFrame := float64(batches * batch * b.N)
	b.ReportMetric(float64(tLocal.Nanoseconds())/perFrame, "in-process-ns/frame")
	b.ReportMetric(float64(tRemote.Nanoseconds())/perFrame, "plugin-ns/frame")
	b.ReportMetric(tRemote.Seconds()/tLocal.Seconds(), "ratio")
	b.ReportMetric(float64((q(latRemote, 0.5) - q(latLocal, 0.5)).Microseconds()), "overhead-p50-us")
	b.ReportMetric(float64((q(latRemote, 0.99) - q(latLocal, 0.5)).Microseconds()), "overhead-p99-us")
}

// BenchmarkSession60s runs the shipped simulated rig with the 62-second
// gratings protocol on the virtual clock through the host binary and
// reports how many times faster than real time it ran, start-up included.
func BenchmarkSession60s(b *testing.B) {
	cfg, err := filepath.Abs("../configs/simulated.yaml")
	require.NoError(b, err)
	dir := b.TempDir()
	// The shipped config points at ../bin; run against the binaries built
	// for the tests instead, with the output in a scratch directory.
	data, err := os.ReadFile(cfg)
	require.NoError(b, err)
	local := filepath.Join(dir, "simulated.yaml")
	text := string(data)
	for _, name := range []string{"twinrig-stimulus", "twinrig-acquisition", "twinrig-model"} {
		text = strings.ReplaceAll(text, "../bin/"+name, filepath.Join(bin, name))
	}
	proto, _ := filepath.Abs("../protocols/gratings.yaml")
	text = regexp.MustCompile(`protocol: .*`).ReplaceAllString(text, "protocol: "+proto)
	text = strings.ReplaceAll(text, "../runs", filepath.Join(dir, "runs"))
	require.NoError(b, os.WriteFile(local, []byte(text), 0o644))
	var wall time.Duration
	for b.Loop() {
		t0 := time.Now()
		out, err := exec.Command(filepath.Join(bin, "twinrig"), "run", "-quiet", local).CombinedOutput()
		require.NoError(b, err, "%s", out)
		wall += time.Since(t0)
	}
	b.ReportMetric(62/(wall.Seconds()/float64(b.N)), "x-realtime")
}
