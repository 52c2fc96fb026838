package simacq_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/simacq"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
	"github.com/twinrig/twinrig/sim"
)

var ctx = context.Background()

func quiet() *simacq.Acquisition {
	return simacq.New().WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func configured(t *testing.T, settings string) *simacq.Acquisition {
	t.Helper()
	a := quiet()
	_, err := a.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(settings)})
	require.NoError(t, err)
	return a
}

// frames returns n uniform frames at rate Hz from session time start,
// alternating between level and level+40.
func frames(n int, rate float64, start time.Duration, level byte) []rig.ShownFrame {
	const w, h = 32, 18
	out := make([]rig.ShownFrame, n)
	for i := range out {
		px := make([]byte, w*h)
		for j := range px {
			px[j] = level + byte(i%2)*40 // flicker, so that every frame differs
		}
		out[i] = rig.ShownFrame{
			Index: int64(i),
			Time:  start + time.Duration(math.Round(float64(i)*1e9/rate)),
			Frame: rig.Frame{Width: w, Height: h, Pixels: px},
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	rigtest.Acquisition(t, quiet())
	rigtest.Acquisition(t, quiet(), rigtest.WithSettings(json.RawMessage(`{"neurons":7,"imaging_rate_hz":15.5,"indicator":"6f"}`)))
}

func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings string
		check    func(t *testing.T, cfg sim.Config)
	}{
		{"empty", ``, func(t *testing.T, cfg sim.Config) { require.Equal(t, sim.DefaultConfig(), cfg) }},
		{"null", `null`, func(t *testing.T, cfg sim.Config) { require.Equal(t, sim.DefaultConfig(), cfg) }},
		{"object", `{}`, func(t *testing.T, cfg sim.Config) { require.Equal(t, sim.DefaultConfig(), cfg) }},
		{"all", `{"neurons":12,"seed":18446744073709551615,"imaging_rate_hz":9.5,"steps_per_scan":3,
			"indicator":"GCaMP6f","indicator_decay_ms":800,"spike_amplitude":0.3,"noise_sd":0,
			"baseline_rate_hz":0,"driven_rate_hz":4,"max_rate_hz":20,"complex_fraction":1,
			"integration_tau_ms":0,"grid_width":16,"grid_height":9,"ds_fraction":0,"planes":4,
			"run_bout_ms":3000,"still_bout_ms":5000,"run_speed_cm_s":20,"running_gain":1.5,"pupil_gain":0.2,
			"refractory_ms":0,"gain_noise_sd":0.4,"gain_noise_tau_ms":500,"neuropil_coef":0.8,"neuropil_sd":0.02,
			"neuropil_tau_ms":3000,"drift_sd":0.1,"drift_tau_ms":30000,"workers":1,"shot_noise":false}`, func(t *testing.T, cfg sim.Config) {
			require.Equal(t, sim.Config{
				Neurons: 12, Seed: math.MaxUint64, ImagingRateHz: 9.5, StepsPerScan: 3,
				Indicator:      sim.Indicator{Name: "6f", Rise: 50 * time.Millisecond, Decay: 800 * time.Millisecond},
				SpikeAmplitude: 0.3, NoiseSD: 0, BaselineRateHz: 0, DrivenRateHz: 4, MaxRateHz: 20,
				ComplexFraction: 1, IntegrationTau: 0, GridWidth: 16, GridHeight: 9,
				DSFraction: 0, Planes: 4,
				Behaviour: sim.BehaviourConfig{RunBout: 3 * time.Second, StillBout: 5 * time.Second, RunSpeed: 20,
					RunningGain: 1.5, PupilGain: 0.2},
				RefractoryPeriod: 0, GainNoiseSD: 0.4, GainNoiseTau: 500 * time.Millisecond,
				NeuropilCoef: 0.8, NeuropilSD: 0.02, NeuropilTau: 3 * time.Second,
				DriftSD: 0.1, DriftTau: 30 * time.Second, Workers: 1, ShotNoise: false,
			}, cfg)
		}},
		{"rise override", `{"indicator_rise_ms":12.5}`, func(t *testing.T, cfg sim.Config) {
			require.Equal(t, 12500*time.Microsecond, cfg.Indicator.Rise)
			require.Equal(t, 1250*time.Millisecond, cfg.Indicator.Decay)
		}},
		{"null field keeps default", `{"neurons":null}`, func(t *testing.T, cfg sim.Config) { require.Equal(t, 100, cfg.Neurons) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := simacq.ParseSettings(json.RawMessage(tc.settings))
			require.NoError(t, err)
			tc.check(t, cfg)
		})
	}
}

func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		settings string
		want     []string
	}{
		{`[]`, []string{"acquisition settings: not a JSON object"}},
		{`{"neuron":5}`, []string{`acquisition settings: unknown field "neuron", want one of neurons, seed,`}},
		{`{"neurons":0}`, []string{`acquisition settings: field "neurons": 0, want 1 to 100000`}},
		{`{"neurons":2.5}`, []string{`field "neurons": 2.5: want an integer`}},
		{`{"neurons":"many"}`, []string{`field "neurons": "many": want an integer`}},
		{`{"seed":-1}`, []string{`field "seed": -1: want a non-negative 64-bit integer`}},
		{`{"noise_sd":-0.1}`, []string{`field "noise_sd": -0.1, want finite and >= 0`}},
		{`{"noise_sd":true}`, []string{`field "noise_sd": true: want a number`}},
		{`{"indicator":"GCaMP9"}`, []string{`field "indicator": "GCaMP9": want one of 6f, 6m, 6s, 8m`}},
		{`{"indicator_decay_ms":50}`, []string{`field "indicator_decay_ms": 50ms, want above Indicator.Rise (100ms)`}},
		{`{"integration_tau_ms":1e300}`, []string{`field "integration_tau_ms": 1e300: want at most 1e9 ms in magnitude`}},
		{`{"max_rate_hz":0.1,"baseline_rate_hz":1}`, []string{`field "max_rate_hz": 0.1`}},
		{`{"grid_width":2,"imaging_rate_hz":0,"bogus":1}`, []string{`unknown field "bogus"`}},
		{`{"ds_fraction":0.7}`, []string{`field "ds_fraction": 0.7, want in [0, 1] and at most 1 - ComplexFraction (0.4)`}},
		{`{"planes":0}`, []string{`field "planes": 0, want 1 to 32`}},
		{`{"run_bout_ms":10}`, []string{`field "run_bout_ms": 10ms, want in [100ms, 1h]`}},
		{`{"still_bout_ms":-5}`, []string{`field "still_bout_ms": -5ms, want in [100ms, 1h]`}},
		{`{"run_speed_cm_s":0}`, []string{`field "run_speed_cm_s": 0, want in (0, 200] cm/s`}},
		{`{"running_gain":-1}`, []string{`field "running_gain": -1, want in [0, 10]`}},
		{`{"pupil_gain":2}`, []string{`field "pupil_gain": 2, want in [0, 1]`}},
		{`{"refractory_ms":500}`, []string{`field "refractory_ms": 500ms, want in [0, 100ms]`}},
		{`{"gain_noise_sd":3}`, []string{`field "gain_noise_sd": 3, want in [0, 2]`}},
		{`{"gain_noise_tau_ms":1}`, []string{`field "gain_noise_tau_ms": 1ms, want in [10ms, 1m]`}},
		{`{"neuropil_coef":2.5}`, []string{`field "neuropil_coef": 2.5, want in [0, 2]`}},
		{`{"neuropil_sd":-1}`, []string{`field "neuropil_sd": -1, want finite and >= 0`}},
		{`{"neuropil_tau_ms":0}`, []string{`field "neuropil_tau_ms": 0s, want in [10ms, 1m]`}},
		{`{"drift_sd":-0.1}`, []string{`field "drift_sd": -0.1, want finite and >= 0`}},
		{`{"drift_tau_ms":10}`, []string{`field "drift_tau_ms": 10ms, want in [1s, 1h]`}},
		{`{"workers":-1}`, []string{`field "workers": -1, want 0 (GOMAXPROCS) to 64`}},
		{`{"shot_noise":1}`, []string{`field "shot_noise": 1: want true or false`}},
		{`{"planes":"two","drift_sd":-1}`, []string{`field "planes": "two": want an integer`}},
		{`{"grid_width":2,"imaging_rate_hz":0}`, []string{`field "grid_width": 2, want 4 to 256`, `field "imaging_rate_hz": 0, want in (0, 1000]`}},
	} {
		t.Run(tc.settings, func(t *testing.T) {
			a := quiet()
			_, err := a.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(tc.settings)})
			require.ErrorIs(t, err, rig.ErrInvalid)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestCallOrder(t *testing.T) {
	a := configured(t, `{"neurons":4}`)
	_, err := a.Observe(ctx, rig.ObserveRequest{Frames: frames(1, 30, 0, 100)})
	require.ErrorIs(t, err, rig.ErrState, "Observe before Start")
	_, err = a.Read(ctx, rig.ReadRequest{Until: time.Second})
	require.ErrorIs(t, err, rig.ErrState, "Read before Start")
	_, err = a.Stop(ctx, rig.StopRequest{})
	require.NoError(t, err, "Stop outside a session does nothing")

	_, err = a.Start(ctx, rig.StartRequest{Clock: rig.Clock(7)})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "clock 7, want virtual (0) or real (1)")
	_, err = a.Start(ctx, rig.StartRequest{Clock: rig.RealClock})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "zero Epoch")

	_, err = a.Start(ctx, rig.StartRequest{Clock: rig.VirtualClock})
	require.NoError(t, err)
	_, err = a.Configure(ctx, rig.ConfigureRequest{})
	require.ErrorIs(t, err, rig.ErrState, "Configure during a session")

	_, err = a.Observe(ctx, rig.ObserveRequest{Frames: frames(3, 30, time.Second, 100)})
	require.NoError(t, err)
	_, err = a.Observe(ctx, rig.ObserveRequest{Frames: frames(1, 30, 0, 100)})
	require.ErrorIs(t, err, rig.ErrInvalid, "a frame before the last one")
	require.ErrorContains(t, err, "simacq: observe frame 0: sim: frame at 0s after a frame at 1.066666667s")

	_, err = a.Stop(ctx, rig.StopRequest{})
	require.NoError(t, err)
	_, err = a.Read(ctx, rig.ReadRequest{Until: time.Second})
	require.ErrorIs(t, err, rig.ErrState, "Read after Stop")
	_, err = a.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neurons":5}`)})
	require.NoError(t, err, "Configure between sessions")
	info, err := a.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, 5, info.Neurons)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = a.Read(cancelled, rig.ReadRequest{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestDescribe(t *testing.T) {
	info, err := configured(t, `{"neurons":3,"imaging_rate_hz":12}`).Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, rig.AcquisitionInfo{
		Name: "sim", Neurons: 3, NeuronIDs: []string{"sim-0000", "sim-0001", "sim-0002"},
		ImagingRateHz: 12, Simulated: true, TellsTruth: true,
	}, info)
	info, err = configured(t, `{"neurons":3,"imaging_rate_hz":30,"planes":3}`).Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, 10.0, info.ImagingRateHz, "one scan per volume")
	info, err = quiet().Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err, "Describe without Configure reports the defaults")
	require.Equal(t, 100, info.Neurons)
	require.Equal(t, "sim-0099", info.NeuronIDs[99])
}

// session runs one virtual-clock session: 2 s of frames, read in pieces.
func session(t *testing.T, a *simacq.Acquisition) []rig.Scan {
	t.Helper()
	_, err := a.Start(ctx, rig.StartRequest{Clock: rig.VirtualClock, Epoch: time.Now()})
	require.NoError(t, err)
	var scans []rig.Scan
	for part := range 4 {
		start := time.Duration(part) * 500 * time.Millisecond
		_, err := a.Observe(ctx, rig.ObserveRequest{Frames: frames(30, 60, start, 60)})
		require.NoError(t, err)
		resp, err := a.Read(ctx, rig.ReadRequest{Until: start + 500*time.Millisecond})
		require.NoError(t, err)
		scans = append(scans, resp.Scans...)
	}
	_, err = a.Stop(ctx, rig.StopRequest{})
	require.NoError(t, err)
	return scans
}

func TestScans(t *testing.T) {
	const settings = `{"neurons":9,"imaging_rate_hz":20,"seed":4}`
	a := configured(t, settings)
	first := session(t, a)
	require.Len(t, first, 41, "scans at 0, 50 ms, ..., 2 s")
	for k, s := range first {
		require.Equal(t, int64(k), s.Index)
		require.Equal(t, time.Duration(k)*50*time.Millisecond, s.Time)
		require.Len(t, s.Values, 9)
		if k > 0 {
			require.Greater(t, s.Time, first[k-1].Time)
		}
	}

	second := session(t, a)
	require.Len(t, second, 41, "Start begins a new session at time zero")
	require.Equal(t, int64(0), second[0].Index)
	require.NotEqual(t, first[20].Values, second[20].Values, "a new session draws new noise")

	again := session(t, configured(t, settings))
	for i := range first {
		require.Equal(t, first[i].Time, first[i].SourceTime, "the simulated microscope's clock is the session clock")
		require.False(t, first[i].HostTime.IsZero(), "each scan carries the host time")
		first[i].HostTime, again[i].HostTime = time.Time{}, time.Time{} // wall clock: differs by run
	}
	require.Equal(t, first, again, "the same settings give the same first session")
}

func TestRealClock(t *testing.T) {
	a := configured(t, `{"neurons":2}`)
	epoch := time.Now().Add(-time.Second)
	_, err := a.Start(ctx, rig.StartRequest{Clock: rig.RealClock, Epoch: epoch})
	require.NoError(t, err)

	resp, err := a.Read(ctx, rig.ReadRequest{Until: 500 * time.Millisecond})
	require.NoError(t, err, "a time already past needs no wait")
	require.Len(t, resp.Scans, 16)

	// A time slightly ahead: Read returns once it has passed.
	until := time.Since(epoch) + 30*time.Millisecond
	resp, err = a.Read(ctx, rig.ReadRequest{Until: until})
	require.NoError(t, err)
	require.NotEmpty(t, resp.Scans)
	require.GreaterOrEqual(t, time.Since(epoch), until, "Read returned before its Until passed in wall time")

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = a.Read(short, rig.ReadRequest{Until: time.Hour})
	require.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
	require.ErrorContains(t, err, "waiting for session time 1h0m0s")
}

func FuzzParseSettings(f *testing.F) {
	f.Add([]byte(`{"neurons":12,"seed":3,"indicator":"6f","noise_sd":0.2}`))
	f.Add([]byte(`{"indicator_rise_ms":1e20,"grid_width":-1}`))
	f.Add([]byte(`{"bogus":[1,2]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"planes":3,"ds_fraction":0.3,"run_bout_ms":500,"shot_noise":false,"drift_tau_ms":1e9,"neuropil_coef":0.7}`))
	f.Fuzz(func(t *testing.T, settings []byte) {
		cfg, err := simacq.ParseSettings(settings)
		if err != nil {
			if !errors.Is(err, rig.ErrInvalid) {
				t.Fatalf("ParseSettings(%q): error %v does not wrap rig.ErrInvalid", settings, err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseSettings(%q) accepted a config that fails Validate: %v", settings, err)
		}
	})
}

// TestVolumes checks multi-plane timing and behaviour through the plugin:
// one scan per volume, each carrying the z-scored behaviour.
func TestVolumes(t *testing.T) {
	scans := session(t, configured(t, `{"neurons":6,"imaging_rate_hz":20,"planes":2,"seed":4}`))
	require.Len(t, scans, 21, "scans at 0, 100 ms, ..., 2 s")
	moving := false
	for k, s := range scans {
		require.Equal(t, time.Duration(k)*100*time.Millisecond, s.Time)
		require.Len(t, s.Values, 6)
		if s.Behaviour != scans[0].Behaviour {
			moving = true
		}
	}
	require.True(t, moving, "the behaviour changes over a session")
}
