package sim_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/sim"
)

// frameTime is the session time of display frame i at rateHz.
func frameTime(i int, rateHz float64) time.Duration {
	return time.Duration(math.Round(float64(i) * 1e9 / rateHz))
}

// renderer renders a stimulus spec's frames at one size.
type renderer struct {
	seq           stimuli.Sequence
	width, height int
	buf           []byte
}

func newRenderer(t testing.TB, spec string, width, height int, rateHz float64) *renderer {
	t.Helper()
	seq, err := stimuli.New(json.RawMessage(spec), width, height, rateHz)
	require.NoError(t, err)
	return &renderer{seq: seq, width: width, height: height, buf: make([]byte, width*height)}
}

func (r *renderer) frame(i int) []byte {
	r.seq.Render(i, r.buf)
	return r.buf
}

// show observes frames [from, to) of r at rateHz, starting at session
// frame offset.
func show(t testing.TB, m *sim.Mouse, r *renderer, offset, from, to int, rateHz float64) {
	t.Helper()
	for i := from; i < to; i++ {
		require.NoError(t, m.Observe(frameTime(offset+i-from, rateHz), r.frame(i), r.width, r.height))
	}
}

func newMouse(t testing.TB, cfg sim.Config) *sim.Mouse {
	t.Helper()
	m, err := sim.New(cfg)
	require.NoError(t, err)
	return m
}

// values collects neuron i's values from scans.
func values(scans []rig.Scan, i int) []float64 {
	out := make([]float64, len(scans))
	for k, s := range scans {
		out[k] = float64(s.Values[i])
	}
	return out
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// run shows spec for seconds at 30 Hz on a fresh session 0 of m and
// returns all scans up to the end.
func run(t testing.TB, m *sim.Mouse, spec string, seconds float64) []rig.Scan {
	t.Helper()
	const rate = 30.0
	m.Reset(0)
	r := newRenderer(t, spec, 64, 36, rate)
	n := int(seconds * rate)
	show(t, m, r, 0, 0, n, rate)
	return m.Scans(frameTime(n, rate))
}

func TestDeterministic(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 40
	cfg.Seed = 7
	spec := `{"family":"grating","seed":3,"segment_frames":15}`
	a := run(t, newMouse(t, cfg), spec, 4)
	b := run(t, newMouse(t, cfg), spec, 4)
	require.Equal(t, a, b, "same seed and frames must give identical scans")

	m := newMouse(t, cfg)
	first := run(t, m, spec, 4)
	require.Equal(t, a, first)
	again := run(t, m, spec, 4) // run resets to session 0
	require.Equal(t, a, again, "Reset(0) must replay session 0")

	m.Reset(1)
	r := newRenderer(t, spec, 64, 36, 30)
	show(t, m, r, 0, 0, 120, 30)
	other := m.Scans(frameTime(120, 30))
	require.Len(t, other, len(a))
	require.NotEqual(t, a[50].Values, other[50].Values, "another session draws other spikes and noise")

	cfg.Seed = 8
	c := run(t, newMouse(t, cfg), spec, 4)
	require.NotEqual(t, a[50].Values, c[50].Values, "another seed is another mouse")
}

// TestScansChunking checks that results do not depend on how Scans calls
// are split, as long as frames are observed before their time is read.
func TestScansChunking(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 30
	spec := `{"family":"grating","orientation_deg":60,"temporal_freq_hz":3}`
	whole := run(t, newMouse(t, cfg), spec, 3)

	m := newMouse(t, cfg)
	r := newRenderer(t, spec, 64, 36, 30)
	var pieces []rig.Scan
	for i := range 90 {
		require.NoError(t, m.Observe(frameTime(i, 30), r.frame(i), 64, 36))
		pieces = append(pieces, m.Scans(frameTime(i, 30))...)
	}
	pieces = append(pieces, m.Scans(frameTime(90, 30))...)
	require.Equal(t, whole, pieces)
	require.Zero(t, m.LateFrames())
}

func TestImagingTimestamps(t *testing.T) {
	for _, rate := range []float64{30, 7.3, 15.5, 60} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			cfg := sim.DefaultConfig()
			cfg.Neurons = 5
			cfg.ImagingRateHz = rate
			m := newMouse(t, cfg)
			require.Empty(t, m.Scans(-time.Nanosecond))
			var all []rig.Scan
			for _, until := range []time.Duration{0, time.Second / 3, time.Second / 3, 2 * time.Second, 10 * time.Second} {
				all = append(all, m.Scans(until)...)
				if len(all) > 0 {
					require.LessOrEqual(t, all[len(all)-1].Time, until)
				}
			}
			want := int(math.Floor(10*rate)) + 1
			require.Len(t, all, want)
			for k, s := range all {
				require.Equal(t, int64(k), s.Index)
				require.Equal(t, time.Duration(math.Round(float64(k)*1e9/rate)), s.Time, "scan %d", k)
				require.Equal(t, m.ScanTime(int64(k)), s.Time)
				require.Len(t, s.Values, 5)
				for _, v := range []float32{s.Behaviour.PupilX, s.Behaviour.PupilY, s.Behaviour.PupilRadius, s.Behaviour.Treadmill} {
					require.False(t, math.IsNaN(float64(v)) || math.IsInf(float64(v), 0), "scan %d behaviour %+v", k, s.Behaviour)
				}
			}
			require.Greater(t, m.ScanTime(int64(want)), 10*time.Second, "the next scan lies beyond until")
		})
	}
}

// TestCausal checks that a frame shown at T changes no scan stamped
// before T, and changes later ones.
func TestCausal(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 50
	cfg.DrivenRateHz = 30
	const change = 45 // frame index of the stimulus onset, at 1.5 s
	gray := newRenderer(t, `{"family":"blank"}`, 64, 36, 30)
	grating := newRenderer(t, `{"family":"grating"}`, 64, 36, 30)

	a := newMouse(t, cfg)
	show(t, a, gray, 0, 0, 90, 30)
	b := newMouse(t, cfg)
	show(t, b, gray, 0, 0, change, 30)
	show(t, b, grating, change, 0, 90-change, 30)
	sa, sb := a.Scans(3*time.Second), b.Scans(3*time.Second)
	onset := frameTime(change, 30)
	differs := false
	for k := range sa {
		if sa[k].Time < onset {
			require.Equal(t, sa[k].Values, sb[k].Values, "scan %d at %v precedes the onset at %v", k, sa[k].Time, onset)
		} else if fmt.Sprint(sa[k].Values) != fmt.Sprint(sb[k].Values) {
			differs = true
		}
	}
	require.True(t, differs, "the grating changed nothing")
	for i := range cfg.Neurons {
		lag := a.RF(i).Lag
		require.Greater(t, lag, time.Duration(0))
		require.LessOrEqual(t, lag, a.ScanTime(1))
	}
}

// TestOrientationTuning shows each neuron a drifting grating at its
// preferred orientation and spatial frequency, then the orthogonal one,
// and compares the mean dF/F (the drift averages over phase).
func TestOrientationTuning(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 40
	cfg.NoiseSD = 0
	cfg.DrivenRateHz = 20
	cfg.Indicator, _ = sim.IndicatorPreset("6f") // shorter warm-up
	m := newMouse(t, cfg)
	const seconds = 2
	better := 0
	for i := range cfg.Neurons {
		rf := m.RF(i)
		response := func(deg float64) float64 {
			spec := fmt.Sprintf(`{"family":"grating","orientation_deg":%g,"cycles_per_width":%g,"temporal_freq_hz":2}`, deg, rf.CyclesPerWidth)
			scans := run(t, m, spec, seconds)
			return mean(values(scans[15:], i)) // skip the first 0.5 s
		}
		pref, orth := response(rf.DirectionDeg), response(math.Mod(rf.DirectionDeg+90, 360))
		if pref > orth {
			better++
		}
		t.Logf("neuron %2d complex=%-5v ds=%-5v pref %.3f orth %.3f", i, rf.Complex, rf.DS, pref, orth)
	}
	require.GreaterOrEqual(t, better, cfg.Neurons*9/10, "neurons responding more to their preferred orientation than to the orthogonal one")
}

// TestCalciumDecay recovers the indicator's decay time constant from the
// fall of the trace after a burst of grating flashes.
func TestCalciumDecay(t *testing.T) {
	for _, name := range []string{"6s", "6f"} {
		t.Run(name, func(t *testing.T) {
			cfg := sim.DefaultConfig()
			cfg.Neurons = 20
			cfg.NoiseSD = 0
			cfg.BaselineRateHz = 0
			cfg.DrivenRateHz = 40
			cfg.IntegrationTau = 20 * time.Millisecond
			cfg.NeuropilCoef = 0 // the cell's own calcium alone
			cfg.DriftSD = 0
			cfg.Indicator, _ = sim.IndicatorPreset(name)
			m := newMouse(t, cfg)
			const rate = 30.0
			// 8 orientations, 2 frames each, then gray.
			frame := 0
			for o := range 8 {
				r := newRenderer(t, fmt.Sprintf(`{"family":"grating","orientation_deg":%d}`, o*45), 64, 36, rate)
				show(t, m, r, frame, frame, frame+2, rate)
				frame += 2
			}
			gray := newRenderer(t, `{"family":"blank"}`, 64, 36, rate)
			show(t, m, gray, frame, 0, 1, rate)
			off := frameTime(frame, rate)
			scans := m.Scans(off + 6*time.Second)

			tau := cfg.Indicator.Decay.Seconds()
			from, to := off+time.Second, off+time.Second+time.Duration(3*tau*1e9)
			fitted := 0
			for i := range cfg.Neurons {
				var ts, logs []float64
				monotone := true
				prev := math.Inf(1)
				for _, s := range scans {
					if s.Time < from || s.Time > to {
						continue
					}
					v := float64(s.Values[i])
					if v <= 0 || v > prev {
						monotone = false // a later spike, or nothing to fit
						break
					}
					prev = v
					ts = append(ts, s.Time.Seconds())
					logs = append(logs, math.Log(v))
				}
				if !monotone || len(ts) < 10 || math.Exp(logs[0]) < 1e-3 {
					continue
				}
				got := -1 / slope(ts, logs)
				require.InEpsilon(t, tau, got, 0.1, "neuron %d: fitted decay %.3f s, want %.3f s", i, got, tau)
				t.Logf("neuron %d: decay %.3f s from %d scans", i, got, len(ts))
				fitted++
			}
			require.GreaterOrEqual(t, fitted, 5, "too few neurons responded to the burst")
		})
	}
}

// slope is the least-squares slope of y on x.
func slope(x, y []float64) float64 {
	mx, my := mean(x), mean(y)
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	return sxy / sxx
}

// TestNoise checks that a population that never fires shows exactly the
// configured noise.
func TestNoise(t *testing.T) {
	for _, sd := range []float64{0, 0.05, 0.1, 0.3} {
		t.Run(fmt.Sprint(sd), func(t *testing.T) {
			cfg := sim.DefaultConfig()
			cfg.Neurons = 100
			cfg.NoiseSD = sd
			cfg.BaselineRateHz = 0
			cfg.DrivenRateHz = 0
			cfg.NeuropilSD = 0 // no neuropil fluctuation nor drift: noise alone
			cfg.DriftSD = 0
			m := newMouse(t, cfg)
			r := newRenderer(t, `{"family":"grating"}`, 64, 36, 30)
			show(t, m, r, 0, 0, 300, 30)
			scans := m.Scans(10 * time.Second)
			var all []float64
			for _, s := range scans {
				for _, v := range s.Values {
					all = append(all, float64(v))
				}
			}
			mu := mean(all)
			var ss float64
			for _, v := range all {
				ss += (v - mu) * (v - mu)
			}
			got := math.Sqrt(ss / float64(len(all)-1))
			if sd == 0 {
				require.Zero(t, got)
				require.Zero(t, mu)
				return
			}
			// ~30,000 samples: the s.d. estimate is good to ~0.4 %.
			require.InEpsilon(t, sd, got, 0.02)
			require.InDelta(t, 0, mu, 4*sd/math.Sqrt(float64(len(all))))
		})
	}
}

// TestFrameSizes checks that frames of any size are averaged onto the same
// grid: a uniform frame drives the same response at every size.
func TestFrameSizes(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 20
	var first []rig.Scan
	for _, size := range [][2]int{{256, 144}, {64, 36}, {32, 18}, {7, 5}, {1, 1}, {1000, 3}} {
		m := newMouse(t, cfg)
		w, h := size[0], size[1]
		frame := make([]byte, w*h)
		for i := range frame {
			frame[i] = 220
		}
		require.NoError(t, m.Observe(0, frame, w, h))
		scans := m.Scans(2 * time.Second)
		if first == nil {
			first = scans
			continue
		}
		require.Equal(t, first, scans, "size %dx%d", w, h)
	}
}

func TestObserveErrors(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 3
	m := newMouse(t, cfg)
	frame := make([]byte, 8*4)
	require.NoError(t, m.Observe(time.Second, frame, 8, 4))
	require.NoError(t, m.Observe(time.Second, frame, 8, 4), "a frame at the same time replaces its predecessor")

	err := m.Observe(time.Second-1, frame, 8, 4)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "frame at 999.999999ms after a frame at 1s, want frames in time order")

	for _, tc := range []struct {
		w, h int
		n    int
		want string
	}{
		{8, 4, 31, "31 bytes for 8x4 pixels, want width and height >= 1 and 32 bytes"},
		{0, 4, 0, "0 bytes for 0x4 pixels"},
		{-2, 4, 0, "0 bytes for -2x4 pixels, want width and height >= 1 and 0 bytes"},
	} {
		err := m.Observe(2*time.Second, make([]byte, tc.n), tc.w, tc.h)
		require.ErrorIs(t, err, rig.ErrInvalid)
		require.ErrorContains(t, err, tc.want)
	}

	// A frame older than the simulated time is applied late and counted.
	m.Scans(3 * time.Second)
	require.NoError(t, m.Observe(2*time.Second, make([]byte, 32), 8, 4))
	require.Equal(t, int64(1), m.LateFrames())
	m.Reset(0)
	require.Zero(t, m.LateFrames())
	require.NoError(t, m.Observe(0, frame, 8, 4), "Reset starts a new time line")
}

func TestValidate(t *testing.T) {
	require.NoError(t, sim.DefaultConfig().Validate())
	for _, tc := range []struct {
		field string
		edit  func(*sim.Config)
		want  string
	}{
		{"Neurons", func(c *sim.Config) { c.Neurons = 0 }, "sim config: field Neurons: 0, want 1 to 100000"},
		{"Neurons", func(c *sim.Config) { c.Neurons = 100001 }, "field Neurons: 100001"},
		{"ImagingRateHz", func(c *sim.Config) { c.ImagingRateHz = 0 }, "field ImagingRateHz: 0, want in (0, 1000]"},
		{"ImagingRateHz", func(c *sim.Config) { c.ImagingRateHz = math.NaN() }, "field ImagingRateHz: NaN"},
		{"StepsPerScan", func(c *sim.Config) { c.StepsPerScan = 0 }, "field StepsPerScan: 0, want 1 to 100"},
		{"Indicator.Rise", func(c *sim.Config) { c.Indicator.Rise = -time.Millisecond }, "field Indicator.Rise: -1ms, want >= 0"},
		{"Indicator.Decay", func(c *sim.Config) { c.Indicator.Decay = 50 * time.Millisecond }, "field Indicator.Decay: 50ms, want above Indicator.Rise (100ms)"},
		{"SpikeAmplitude", func(c *sim.Config) { c.SpikeAmplitude = math.Inf(1) }, "field SpikeAmplitude: +Inf, want finite and >= 0"},
		{"NoiseSD", func(c *sim.Config) { c.NoiseSD = -0.1 }, "field NoiseSD: -0.1, want finite and >= 0"},
		{"BaselineRateHz", func(c *sim.Config) { c.BaselineRateHz = -1 }, "field BaselineRateHz: -1"},
		{"DrivenRateHz", func(c *sim.Config) { c.DrivenRateHz = math.NaN() }, "field DrivenRateHz: NaN"},
		{"MaxRateHz", func(c *sim.Config) { c.MaxRateHz = 0.1 }, "field MaxRateHz: 0.1, want in (0, 1000] and >= BaselineRateHz (0.5)"},
		{"ComplexFraction", func(c *sim.Config) { c.ComplexFraction = 1.5 }, "field ComplexFraction: 1.5, want in [0, 1]"},
		{"IntegrationTau", func(c *sim.Config) { c.IntegrationTau = 2 * time.Second }, "field IntegrationTau: 2s, want in [0, 1s]"},
		{"GridWidth", func(c *sim.Config) { c.GridWidth = 3 }, "field GridWidth: 3, want 4 to 256"},
		{"GridHeight", func(c *sim.Config) { c.GridHeight = 1000 }, "field GridHeight: 1000"},
		{"DSFraction", func(c *sim.Config) { c.DSFraction = 0.7 }, "field DSFraction: 0.7, want in [0, 1] and at most 1 - ComplexFraction (0.4)"},
		{"Planes", func(c *sim.Config) { c.Planes = 33 }, "field Planes: 33, want 1 to 32"},
		{"Behaviour.RunBout", func(c *sim.Config) { c.Behaviour.RunBout = 0 }, "field Behaviour.RunBout: 0s, want in [100ms, 1h]"},
		{"Behaviour.StillBout", func(c *sim.Config) { c.Behaviour.StillBout = 2 * time.Hour }, "field Behaviour.StillBout: 2h0m0s"},
		{"Behaviour.RunSpeed", func(c *sim.Config) { c.Behaviour.RunSpeed = math.NaN() }, "field Behaviour.RunSpeed: NaN, want in (0, 200] cm/s"},
		{"Behaviour.RunningGain", func(c *sim.Config) { c.Behaviour.RunningGain = 11 }, "field Behaviour.RunningGain: 11"},
		{"Behaviour.PupilGain", func(c *sim.Config) { c.Behaviour.PupilGain = -0.1 }, "field Behaviour.PupilGain: -0.1"},
		{"RefractoryPeriod", func(c *sim.Config) { c.RefractoryPeriod = time.Second }, "field RefractoryPeriod: 1s, want in [0, 100ms]"},
		{"GainNoiseSD", func(c *sim.Config) { c.GainNoiseSD = math.Inf(1) }, "field GainNoiseSD: +Inf"},
		{"GainNoiseTau", func(c *sim.Config) { c.GainNoiseTau = 0 }, "field GainNoiseTau: 0s, want in [10ms, 1m]"},
		{"NeuropilCoef", func(c *sim.Config) { c.NeuropilCoef = 3 }, "field NeuropilCoef: 3, want in [0, 2]"},
		{"NeuropilSD", func(c *sim.Config) { c.NeuropilSD = math.NaN() }, "field NeuropilSD: NaN"},
		{"NeuropilTau", func(c *sim.Config) { c.NeuropilTau = 2 * time.Minute }, "field NeuropilTau: 2m0s"},
		{"DriftSD", func(c *sim.Config) { c.DriftSD = -1 }, "field DriftSD: -1"},
		{"DriftTau", func(c *sim.Config) { c.DriftTau = time.Millisecond }, "field DriftTau: 1ms, want in [1s, 1h]"},
		{"Workers", func(c *sim.Config) { c.Workers = 65 }, "field Workers: 65"},
		{"TruthHistory", func(c *sim.Config) { c.TruthHistory = -1 }, "field TruthHistory: -1"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			cfg := sim.DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, tc.want)
			fes := sim.FieldErrors(err)
			require.Len(t, fes, 1)
			require.Equal(t, tc.field, fes[0].Field)
			m, err := sim.New(cfg)
			require.Nil(t, m)
			require.ErrorIs(t, err, rig.ErrInvalid)
		})
	}

	cfg := sim.DefaultConfig()
	cfg.Neurons, cfg.NoiseSD, cfg.GridWidth = -1, -1, 0
	fes := sim.FieldErrors(fmt.Errorf("wrapped: %w", cfg.Validate()))
	require.Len(t, fes, 3, "every problem is reported")
	require.Equal(t, []string{"Neurons", "NoiseSD", "GridWidth"}, []string{fes[0].Field, fes[1].Field, fes[2].Field})
}

func TestIndicatorPreset(t *testing.T) {
	require.Equal(t, []string{"6f", "6m", "6s", "8m"}, sim.IndicatorNames())
	for _, tc := range []struct {
		name  string
		decay time.Duration
	}{
		{"6s", 1250 * time.Millisecond},
		{"GCaMP6f", 700 * time.Millisecond},
		{"gcamp6m", time.Second},
		{"jGCaMP8m", 300 * time.Millisecond},
	} {
		ind, err := sim.IndicatorPreset(tc.name)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.decay, ind.Decay, tc.name)
	}
	_, err := sim.IndicatorPreset("7x")
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, `indicator "7x" is not known, want one of 6f, 6m, 6s, 8m`)
}

// BenchmarkSimulate60s simulates one 60 s session at 30 Hz imaging: a
// drifting grating at 30 frames per second, 256 x 144 pixels, observed frame
// by frame, then read, with 100, 1,000 and 10,000 neurons (the issue's
// target for 10,000: x-realtime >= 20 on two cores). Reported: ns per
// simulated second and the speed relative to real time.
func BenchmarkSimulate60s(b *testing.B) {
	for _, neurons := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("neurons=%d", neurons), func(b *testing.B) {
			cfg := sim.DefaultConfig()
			cfg.Neurons = neurons
			m := newMouse(b, cfg)
			const rate, seconds = 30, 60
			r := newRenderer(b, `{"family":"grating","segment_frames":45}`, 256, 144, rate)
			frames := make([][]byte, seconds*rate)
			for i := range frames {
				frames[i] = append([]byte(nil), r.frame(i)...)
			}
			b.ReportAllocs()
			cpu0, cpuKnown := cpuTime()
			for b.Loop() {
				m.Reset(0)
				for i, f := range frames {
					if err := m.Observe(frameTime(i, rate), f, 256, 144); err != nil {
						b.Fatal(err)
					}
				}
				if got := len(m.Scans(seconds * time.Second)); got != seconds*rate+1 {
					b.Fatalf("%d scans, want %d", got, seconds*rate+1)
				}
			}
			cpu1, _ := cpuTime()
			perSimSecond := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / seconds
			b.ReportMetric(perSimSecond, "ns/sim-s")
			b.ReportMetric(1e9/perSimSecond, "x-realtime")
			if cpuKnown {
				b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N)/seconds, "cpu-ns/sim-s")
			}
		})
	}
}

// BenchmarkSimulateLive60s is BenchmarkSimulate60s for 10,000 neurons fed
// as a closed loop feeds it: each frame observed, then the scans up to its
// time read, so that the simulation gets one or two new frames at a time.
func BenchmarkSimulateLive60s(b *testing.B) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 10000
	m := newMouse(b, cfg)
	const rate, seconds = 30, 60
	r := newRenderer(b, `{"family":"grating","segment_frames":45}`, 256, 144, rate)
	frames := make([][]byte, seconds*rate)
	for i := range frames {
		frames[i] = append([]byte(nil), r.frame(i)...)
	}
	b.ReportAllocs()
	cpu0, cpuKnown := cpuTime()
	for b.Loop() {
		m.Reset(0)
		scans := 0
		for i, f := range frames {
			if err := m.Observe(frameTime(i, rate), f, 256, 144); err != nil {
				b.Fatal(err)
			}
			scans += len(m.Scans(frameTime(i, rate)))
		}
		if scans += len(m.Scans(seconds * time.Second)); scans != seconds*rate+1 {
			b.Fatalf("%d scans, want %d", scans, seconds*rate+1)
		}
	}
	cpu1, _ := cpuTime()
	perSimSecond := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / seconds
	b.ReportMetric(perSimSecond, "ns/sim-s")
	b.ReportMetric(1e9/perSimSecond, "x-realtime")
	if cpuKnown {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N)/seconds, "cpu-ns/sim-s")
	}
}
