package rig_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// BenchmarkPredictAutoMTLS measures what AutoMTLS costs a model step: the
// round trip of one Predict call (one 256x144 frame, the default model of
// bin/twinrig-model, 100 neurons on one thread) through a plugin launched
// with AutoMTLS (the default) and through one launched Insecure, the two
// interleaved (batches of 20 calls, alternating which goes first) so that
// the machine's drift affects both alike. It reports each one's time per
// call (mtls-ns/op, plain-ns/op), their difference per call and their
// ratio. It needs `make build`.
func BenchmarkPredictAutoMTLS(b *testing.B) {
	bin, err := filepath.Abs(filepath.Join("..", "bin", "twinrig-model"))
	require.NoError(b, err)
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("%s: run `make build` first", bin)
	}
	ctx := context.Background()
	settings := rig.ConfigureRequest{Settings: json.RawMessage(`{"model": "builtin:default", "neurons": 100, "threads": 1}`)}
	launch := func(insecure bool) rig.Model {
		p, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: bin, LogOutput: io.Discard, Insecure: insecure})
		require.NoError(b, err)
		b.Cleanup(p.Kill)
		m := p.Model()
		_, err = m.Configure(ctx, settings)
		require.NoError(b, err)
		return m
	}
	mtls, plain := launch(false), launch(true)
	px := make([]byte, 256*144)
	for i := range px {
		px[i] = byte(i / 7 % 256)
	}
	req := rig.PredictRequest{Frames: []rig.Frame{{Width: 256, Height: 144, Pixels: px}}}
	run := func(m rig.Model, n int) time.Duration {
		t0 := time.Now()
		for range n {
			if _, err := m.Predict(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	run(mtls, 20) // warm up both
	run(plain, 20)
	const batch = 20
	var tm, tp time.Duration
	calls := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			tm += run(mtls, batch)
			tp += run(plain, batch)
		} else {
			tp += run(plain, batch)
			tm += run(mtls, batch)
		}
		calls += batch
	}
	b.StopTimer()
	m, p := float64(tm.Nanoseconds())/float64(calls), float64(tp.Nanoseconds())/float64(calls)
	b.ReportMetric(m, "mtls-ns/op")
	b.ReportMetric(p, "plain-ns/op")
	b.ReportMetric(m-p, "extra-ns/op")
	b.ReportMetric(m/p, "mtls/plain")
}

// BenchmarkLaunchAutoMTLS measures what AutoMTLS adds to a plugin's start:
// Launch and Kill of bin/twinrig-model with AutoMTLS and Insecure,
// alternating; it reports each one's time per start (mtls-ns/op,
// plain-ns/op).
func BenchmarkLaunchAutoMTLS(b *testing.B) {
	bin, err := filepath.Abs(filepath.Join("..", "bin", "twinrig-model"))
	require.NoError(b, err)
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("%s: run `make build` first", bin)
	}
	start := func(insecure bool) time.Duration {
		t0 := time.Now()
		p, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: bin, LogOutput: io.Discard, Insecure: insecure})
		d := time.Since(t0)
		require.NoError(b, err)
		p.Kill()
		return d
	}
	var tm, tp time.Duration
	n := 0
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			tm += start(false)
			tp += start(true)
		} else {
			tp += start(true)
			tm += start(false)
		}
		n++
	}
	b.ReportMetric(float64(tm.Nanoseconds())/float64(n), "mtls-ns/op")
	b.ReportMetric(float64(tp.Nanoseconds())/float64(n), "plain-ns/op")
}
