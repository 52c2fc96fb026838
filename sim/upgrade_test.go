package sim_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/sim"
)

// quiet returns a config whose rates depend on the stimulus alone: no
// behavioural modulation, no gain noise, no dF/F noise, and a ground-truth
// history.
func quiet() sim.Config {
	cfg := sim.DefaultConfig()
	cfg.Behaviour.RunningGain = 0
	cfg.Behaviour.PupilGain = 0
	cfg.GainNoiseSD = 0
	cfg.NoiseSD = 0
	cfg.TruthHistory = 10000
	cfg.Indicator, _ = sim.IndicatorPreset("6f") // shorter warm-up
	return cfg
}

// truths returns the ground truth of scans.
func truths(t testing.TB, m *sim.Mouse, scans []rig.Scan) []sim.Truth {
	t.Helper()
	out := make([]sim.Truth, len(scans))
	for k, s := range scans {
		tr, ok := m.Truth(s.Index)
		require.True(t, ok, "truth of scan %d", s.Index)
		out[k] = tr
	}
	return out
}

// meanRate is neuron i's mean rate over the scans from scan `from` on.
func meanRate(tr []sim.Truth, i, from int) float64 {
	var s float64
	for _, x := range tr[from:] {
		s += float64(x.Rates[i])
	}
	return s / float64(len(tr)-from)
}

// TestDirectionSelectivity shows every direction-selective cell a grating
// drifting in its preferred direction at its preferred spatial and temporal
// frequency, then the same grating drifting the opposite way.
func TestDirectionSelectivity(t *testing.T) {
	cfg := quiet()
	cfg.Neurons = 16
	cfg.ComplexFraction, cfg.DSFraction = 0, 1
	cfg.MaxRateHz = 1000
	m := newMouse(t, cfg)
	better, dsiSum := 0, 0.0
	for i := range cfg.Neurons {
		rf := m.RF(i)
		require.True(t, rf.DS)
		require.InDelta(t, rf.OrientationDeg, math.Mod(rf.DirectionDeg, 180), 1e-9)
		require.Greater(t, rf.TemporalFreqHz, 0.8)
		response := func(deg float64) float64 {
			spec := fmt.Sprintf(`{"family":"grating","orientation_deg":%g,"cycles_per_width":%g,"temporal_freq_hz":%g}`,
				math.Mod(deg, 360), rf.CyclesPerWidth, rf.TemporalFreqHz)
			scans := run(t, m, spec, 1.5)
			return meanRate(truths(t, m, scans), i, 15)
		}
		pref, anti := response(rf.DirectionDeg), response(rf.DirectionDeg+180)
		if pref > anti {
			better++
		}
		dsi := (pref - anti) / (pref + anti)
		dsiSum += dsi
		t.Logf("neuron %2d dir %5.1f tf %.2f: pref %.2f Hz anti %.2f Hz DSI %.2f", i, rf.DirectionDeg, rf.TemporalFreqHz, pref, anti, dsi)
	}
	require.GreaterOrEqual(t, better, cfg.Neurons*9/10, "cells responding more to preferred than anti-preferred motion")
	require.Greater(t, dsiSum/float64(cfg.Neurons), 0.3, "mean direction selectivity index")
}

// runSession shows a static grating for seconds and returns the scans and
// their truth.
func runSession(t testing.TB, m *sim.Mouse, spec string, seconds float64) ([]rig.Scan, []sim.Truth) {
	t.Helper()
	scans := run(t, m, spec, seconds)
	return scans, truths(t, m, scans)
}

// TestRunningGain compares rates during running and stillness under a
// static grating, so that the stimulus drive is constant.
func TestRunningGain(t *testing.T) {
	const spec = `{"family":"grating","temporal_freq_hz":0,"cycles_per_width":4}`
	for _, gain := range []float64{0, 0.5, 1} {
		t.Run(fmt.Sprint(gain), func(t *testing.T) {
			cfg := quiet()
			cfg.Neurons = 20
			cfg.MaxRateHz = 1000
			cfg.BaselineRateHz = 2
			cfg.Behaviour.RunningGain = gain
			cfg.Behaviour.RunBout, cfg.Behaviour.StillBout = 2*time.Second, 2*time.Second
			m := newMouse(t, cfg)
			scans, tr := runSession(t, m, spec, 30)
			var run, still, runZ, stillZ float64
			var nRun, nStill int
			for k := 30; k < len(tr); k++ {
				var pop float64
				for i := range cfg.Neurons {
					pop += float64(tr[k].Rates[i])
				}
				switch b := tr[k].Behaviour; {
				case b.Running && b.Speed > 0.8*cfg.Behaviour.RunSpeed:
					run += pop
					runZ += float64(scans[k].Behaviour.Treadmill)
					nRun++
				case !b.Running && b.Speed < 0.01*cfg.Behaviour.RunSpeed:
					still += pop
					stillZ += float64(scans[k].Behaviour.Treadmill)
					nStill++
				}
			}
			require.Greater(t, nRun, 30)
			require.Greater(t, nStill, 30)
			ratio := (run / float64(nRun)) / (still / float64(nStill))
			t.Logf("gain %v: running/still rate ratio %.3f (%d and %d scans)", gain, ratio, nRun, nStill)
			require.Greater(t, runZ/float64(nRun), stillZ/float64(nStill)+1, "z-scored treadmill while running vs still")
			if gain == 0 {
				require.InDelta(t, 1, ratio, 1e-6, "no running gain: running changes nothing")
				return
			}
			require.Greater(t, ratio, 1+0.5*gain)
			require.Less(t, ratio, 1+2*gain)
		})
	}
}

// TestBehaviourStatistics runs a long session without a stimulus and
// checks the running fraction, the pupil's coupling to running and the
// z-scoring.
func TestBehaviourStatistics(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 1
	cfg.ImagingRateHz = 10
	cfg.TruthHistory = 20000
	m := newMouse(t, cfg)
	scans := m.Scans(1500 * time.Second)
	tr := truths(t, m, scans)
	var running int
	speed := make([]float64, len(tr))
	radius := make([]float64, len(tr))
	z := make([][]float64, 4)
	for k, x := range tr {
		if x.Behaviour.Running {
			running++
		}
		speed[k], radius[k] = x.Behaviour.Speed, x.Behaviour.PupilRadius
		b := scans[k].Behaviour
		for j, v := range []float32{b.PupilX, b.PupilY, b.PupilRadius, b.Treadmill} {
			z[j] = append(z[j], float64(v))
		}
	}
	frac := float64(running) / float64(len(tr))
	t.Logf("running %.3f of the time; pupil-speed r = %.3f", frac, corr(speed, radius))
	// Expected 8 / (8 + 16) = 1/3; ~60 bouts, so the fraction is known to ~0.06.
	require.InDelta(t, 1.0/3, frac, 0.13)
	require.Greater(t, corr(speed, radius), 0.4, "pupil radius correlates with running")
	for j, v := range z {
		mu, sd := mean(v), math.Sqrt(variance(v))
		t.Logf("behaviour %d: z mean %.3f s.d. %.3f", j, mu, sd)
		require.InDelta(t, 0, mu, 0.35, "variable %d", j)
		require.InDelta(t, 1, sd, 0.35, "variable %d", j)
	}
	st := m.BehaviourStats()
	require.Greater(t, st.SD.PupilX, 0.0)
	require.InDelta(t, cfg.Behaviour.RunSpeed/3, st.Mean.Speed, cfg.Behaviour.RunSpeed/6)
}

func variance(v []float64) float64 {
	mu := mean(v)
	var s float64
	for _, x := range v {
		s += (x - mu) * (x - mu)
	}
	return s / float64(len(v)-1)
}

func corr(x, y []float64) float64 {
	mx, my := mean(x), mean(y)
	var sxy, sxx, syy float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
		syy += (y[i] - my) * (y[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

// TestImagingComposition checks that every value is the cell's calcium
// plus NeuropilCoef times the neuropil plus the drift plus noise of the
// configured s.d. (signal dependent with ShotNoise), and that neuropil and
// drift have their configured magnitudes.
func TestImagingComposition(t *testing.T) {
	for _, shot := range []bool{false, true} {
		t.Run(fmt.Sprint("shot=", shot), func(t *testing.T) {
			cfg := sim.DefaultConfig()
			cfg.Neurons = 100
			cfg.Planes = 2
			cfg.ImagingRateHz = 60
			cfg.NoiseSD = 0.05
			cfg.ShotNoise = shot
			cfg.NeuropilCoef = 0.7
			cfg.NeuropilSD = 0.1
			cfg.DriftSD = 0.08
			cfg.DrivenRateHz = 20
			cfg.TruthHistory = 1000
			m := newMouse(t, cfg)
			scans, tr := runSession(t, m, `{"family":"grating","segment_frames":30}`, 8)
			var resid, np, calcium []float64
			for k, s := range scans {
				for i, v := range s.Values {
					clean := float64(tr[k].Calcium[i]) + cfg.NeuropilCoef*float64(tr[k].Neuropil[i]) + float64(tr[k].Drift[i])
					r := float64(v) - clean
					if shot {
						r /= math.Sqrt(max(0.05, 1+clean))
					}
					resid = append(resid, r)
					np = append(np, float64(tr[k].Neuropil[i]))
					calcium = append(calcium, float64(tr[k].Calcium[i]))
				}
			}
			require.InEpsilon(t, cfg.NoiseSD, math.Sqrt(variance(resid)), 0.03, "noise s.d.")
			require.InDelta(t, 0, mean(resid), 0.002)
			require.Greater(t, variance(calcium), 1e-3, "the cells fire")
			// The neuropil follows the mean calcium of its plane.
			var npPlane, caPlane []float64
			for k := range tr {
				var sum, n float64
				for i := range cfg.Neurons {
					if m.RF(i).Plane == 0 {
						sum += float64(tr[k].Calcium[i])
						n++
					}
				}
				for i := range cfg.Neurons {
					if m.RF(i).Plane == 0 {
						npPlane = append(npPlane, float64(tr[k].Neuropil[i]))
						caPlane = append(caPlane, sum/n)
						break
					}
				}
			}
			require.Greater(t, corr(npPlane, caPlane), 0.5, "neuropil vs the plane's mean calcium")
			// Drift: at one moment the neurons' drifts are independent draws
			// of the stationary distribution.
			var drift []float64
			for _, d := range tr[len(tr)-1].Drift {
				drift = append(drift, float64(d))
			}
			require.InEpsilon(t, cfg.DriftSD, math.Sqrt(variance(drift)), 0.25, "drift s.d. across neurons")
		})
	}
}

// TestNeuropilContamination fits the neuropil coefficient back from the
// traces of cells that never fire.
func TestNeuropilContamination(t *testing.T) {
	for _, coef := range []float64{0.3, 0.7, 1.2} {
		cfg := sim.DefaultConfig()
		cfg.Neurons = 50
		cfg.BaselineRateHz, cfg.DrivenRateHz = 0, 0
		cfg.DriftSD = 0
		cfg.NeuropilCoef = coef
		cfg.NeuropilSD = 0.1
		cfg.NeuropilTau = 500 * time.Millisecond
		cfg.TruthHistory = 1000
		m := newMouse(t, cfg)
		scans, tr := runSession(t, m, `{"family":"blank"}`, 20)
		var x, y []float64
		for k, s := range scans {
			for i, v := range s.Values {
				x = append(x, float64(tr[k].Neuropil[i]))
				y = append(y, float64(v))
			}
		}
		got := slope(x, y)
		t.Logf("coef %v: fitted %.3f; neuropil s.d. %.3f", coef, got, math.Sqrt(variance(x)))
		require.InDelta(t, coef, got, 0.05)
		// Silent cells: the neuropil is its fluctuation alone.
		require.InEpsilon(t, cfg.NeuropilSD, math.Sqrt(variance(x)), 0.3, "neuropil s.d.")
	}
}

// TestMultiPlane checks volume timing: scans at ImagingRateHz / Planes,
// each neuron on one plane with a lag inside its plane's frame, and causal
// per neuron: a stimulus onset changes none of a neuron's samples taken
// before it.
func TestMultiPlane(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 90
	cfg.Planes = 3
	cfg.ImagingRateHz = 30
	cfg.DrivenRateHz = 40
	const frame = time.Second / 30
	a := newMouse(t, cfg)
	require.InDelta(t, 10, a.VolumeRateHz(), 1e-12)
	perPlane := make([]int, cfg.Planes)
	for i := range cfg.Neurons {
		rf := a.RF(i)
		require.GreaterOrEqual(t, rf.Plane, 0)
		require.Less(t, rf.Plane, cfg.Planes)
		perPlane[rf.Plane]++
		after := time.Duration(cfg.Planes-1-rf.Plane) * frame // planes imaged after this one
		require.Greater(t, rf.Lag, after, "neuron %d on plane %d", i, rf.Plane)
		require.LessOrEqual(t, rf.Lag, after+frame+1, "neuron %d on plane %d", i, rf.Plane)
	}
	for p, c := range perPlane {
		require.Greater(t, c, 10, "neurons on plane %d", p)
	}

	gray := newRenderer(t, `{"family":"blank"}`, 64, 36, 30)
	grating := newRenderer(t, `{"family":"grating"}`, 64, 36, 30)
	const change = 37 // onset inside a volume: 1.233 s
	show(t, a, gray, 0, 0, 90, 30)
	b := newMouse(t, cfg)
	show(t, b, gray, 0, 0, change, 30)
	show(t, b, grating, change, 0, 90-change, 30)
	sa, sb := a.Scans(3*time.Second), b.Scans(3*time.Second)
	require.Len(t, sa, 31)
	onset := frameTime(change, 30)
	differs := make([]bool, cfg.Planes)
	for k := range sa {
		require.Equal(t, time.Duration(k)*100*time.Millisecond, sa[k].Time)
		for i := range cfg.Neurons {
			rf := a.RF(i)
			if sa[k].Time-rf.Lag <= onset {
				require.Equal(t, sa[k].Values[i], sb[k].Values[i], "neuron %d (plane %d) sampled at %v before the onset at %v",
					i, rf.Plane, sa[k].Time-rf.Lag, onset)
			} else if sa[k].Values[i] != sb[k].Values[i] {
				differs[rf.Plane] = true
			}
		}
	}
	require.Equal(t, []bool{true, true, true}, differs, "the onset shows on every plane")
}

// TestOptimalStimulus checks that each simple and complex cell's optimal
// stimulus drives it more than random gratings and than its preferred
// grating.
func TestOptimalStimulus(t *testing.T) {
	cfg := quiet()
	cfg.Neurons = 20
	cfg.ComplexFraction, cfg.DSFraction = 0.5, 0
	cfg.MaxRateHz = 1000
	m := newMouse(t, cfg)
	const w, h, seconds = 64, 36, 0.8
	steady := func(frames func(k int) []byte, i int) float64 {
		m.Reset(0)
		n := int(seconds * 30)
		for k := range n {
			require.NoError(t, m.Observe(frameTime(k, 30), frames(k), w, h))
		}
		scans := m.Scans(frameTime(n, 30))
		return meanRate(truths(t, m, scans), i, 15)
	}
	// Control gratings, each shown to the whole population once.
	rng := rand.New(rand.NewPCG(5, 6))
	var controls [][]float64 // [grating][neuron]
	control := func(spec string) {
		scans := run(t, m, spec, seconds)
		tr := truths(t, m, scans)
		rates := make([]float64, cfg.Neurons)
		for i := range rates {
			rates[i] = meanRate(tr, i, 15)
		}
		controls = append(controls, rates)
	}
	for range 12 {
		control(fmt.Sprintf(`{"family":"grating","orientation_deg":%g,"cycles_per_width":%g,"phase_deg":%g,"temporal_freq_hz":0}`,
			360*rng.Float64(), 2+7*rng.Float64(), 360*rng.Float64()))
	}
	for i := range cfg.Neurons {
		rf := m.RF(i)
		s, err := m.OptimalStimulus(i, w, h)
		require.NoError(t, err)
		require.Zero(t, s.TemporalFreqHz)
		img := s.Frame(0)
		require.Len(t, img, w*h)
		best := steady(func(int) []byte { return img }, i)
		maxControl := 0.0
		for _, c := range controls {
			maxControl = max(maxControl, c[i])
		}
		// The neuron's own preferred grating at four phases.
		for ph := range 4 {
			spec := fmt.Sprintf(`{"family":"grating","orientation_deg":%g,"cycles_per_width":%g,"phase_deg":%d,"temporal_freq_hz":0}`,
				rf.OrientationDeg, rf.CyclesPerWidth, 90*ph)
			r := newRenderer(t, spec, w, h, 30)
			maxControl = max(maxControl, steady(r.frame, i))
		}
		t.Logf("neuron %2d (complex %v): optimal %.2f Hz, best control %.2f Hz", i, rf.Complex, best, maxControl)
		require.Greater(t, best, maxControl, "neuron %d", i)
	}

	_, err := m.OptimalStimulus(cfg.Neurons, w, h)
	require.ErrorIs(t, err, rig.ErrInvalid)
	_, err = m.OptimalStimulus(0, 0, h)
	require.ErrorIs(t, err, rig.ErrInvalid)
}

// TestOptimalStimulusDS checks that a direction-selective cell's optimal
// stimulus drifts its preferred way: played backwards it drives less.
func TestOptimalStimulusDS(t *testing.T) {
	cfg := quiet()
	cfg.Neurons = 12
	cfg.ComplexFraction, cfg.DSFraction = 0, 1
	cfg.MaxRateHz = 1000
	m := newMouse(t, cfg)
	const w, h = 64, 36
	better := 0
	for i := range cfg.Neurons {
		s, err := m.OptimalStimulus(i, w, h)
		require.NoError(t, err)
		require.Equal(t, m.RF(i).TemporalFreqHz, s.TemporalFreqHz)
		rate := func(sign time.Duration) float64 {
			m.Reset(0)
			for k := range 60 {
				require.NoError(t, m.Observe(frameTime(k, 30), s.Frame(sign*frameTime(k, 30)), w, h))
			}
			return meanRate(truths(t, m, m.Scans(2*time.Second)), i, 15)
		}
		fwd, back := rate(1), rate(-1)
		t.Logf("neuron %2d: forward %.2f Hz backward %.2f Hz", i, fwd, back)
		if fwd > back {
			better++
		}
	}
	require.GreaterOrEqual(t, better, cfg.Neurons*9/10)
}

// TestTruthReproducible checks that the ground truth, behaviour included,
// is a function of the seed and session.
func TestTruthReproducible(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 30
	cfg.Planes = 2
	cfg.TruthHistory = 200
	get := func(seed, session uint64) ([]rig.Scan, []sim.Truth) {
		c := cfg
		c.Seed = seed
		m := newMouse(t, c)
		m.Reset(session)
		r := newRenderer(t, `{"family":"grating","segment_frames":20}`, 64, 36, 30)
		show(t, m, r, 0, 0, 120, 30)
		scans := m.Scans(4 * time.Second)
		return scans, truths(t, m, scans)
	}
	s1, t1 := get(3, 1)
	s2, t2 := get(3, 1)
	require.Equal(t, s1, s2)
	require.Equal(t, t1, t2)
	_, t3 := get(3, 2)
	require.NotEqual(t, t1[40].Behaviour, t3[40].Behaviour, "another session behaves differently")
	m := newMouse(t, cfg)
	m.Scans(time.Second)
	_, ok := m.Truth(0)
	require.True(t, ok)
	_, ok = m.Truth(100)
	require.False(t, ok, "a scan not yet read has no truth")
}

// TestSpikeCountVariability checks the count model: Poisson counts (Fano
// factor 1) without gain noise, overdispersed counts with it.
func TestSpikeCountVariability(t *testing.T) {
	for _, tc := range []struct {
		gainSD   float64
		min, max float64
	}{{0, 0.85, 1.15}, {0.5, 1.5, 20}} {
		t.Run(fmt.Sprint(tc.gainSD), func(t *testing.T) {
			cfg := quiet()
			cfg.Neurons = 100
			cfg.BaselineRateHz = 5
			cfg.GainNoiseSD = tc.gainSD
			m := newMouse(t, cfg)
			scans, tr := runSession(t, m, `{"family":"blank"}`, 20)
			var counts []float64
			for i := range cfg.Neurons {
				for w := 0; w+30 <= len(scans); w += 30 {
					c := 0
					for k := w; k < w+30; k++ {
						c += int(tr[k].Spikes[i])
					}
					counts = append(counts, float64(c))
				}
			}
			fano := variance(counts) / mean(counts)
			t.Logf("gain s.d. %v: mean count %.2f per s, Fano factor %.3f", tc.gainSD, mean(counts), fano)
			require.InDelta(t, 5, mean(counts), 0.5)
			require.GreaterOrEqual(t, fano, tc.min)
			require.LessOrEqual(t, fano, tc.max)
		})
	}
}

// TestRawFrame renders raw frames and checks the somas' brightness follows
// the scan's values and that the image moves with Motion.
func TestRawFrame(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 40
	cfg.Planes = 2
	m := newMouse(t, cfg)
	scans := m.Scans(20 * time.Second)

	// Brightness: a soma's centre pixel tracks 1 + dF/F.
	s := scans[100]
	for i := range s.Values {
		s.Values[i] = 0
	}
	s.Values[3] = 2 // neuron 3 three times as bright as at rest
	p := m.RF(3).Plane
	img, err := m.RawFrame(s, p)
	require.NoError(t, err)
	require.Len(t, img, sim.FOVSize*sim.FOVSize)
	dx, dy := m.Motion(s.Time)
	centre := func(img []uint16, i int, dx, dy float64) float64 {
		// Mean over the 3 x 3 pixels round the soma's centre.
		rf := m.RF(i)
		cx := int(rf.SomaX*sim.FOVSize + dx)
		cy := int(rf.SomaY*sim.FOVSize + dy)
		var sum, n float64
		for y := max(0, cy-1); y <= min(sim.FOVSize-1, cy+1); y++ {
			for x := max(0, cx-1); x <= min(sim.FOVSize-1, cx+1); x++ {
				sum += float64(img[y*sim.FOVSize+x])
				n++
			}
		}
		return sum / n
	}
	bright := centre(img, 3, dx, dy)
	var rest []float64
	for i := range cfg.Neurons {
		if i != 3 && m.RF(i).Plane == p {
			rest = append(rest, centre(img, i, dx, dy))
		}
	}
	require.Greater(t, bright, 2*mean(rest), "a soma at dF/F 2 vs its plane's somas at rest")

	// Motion: the frames of two scans with the same values align after
	// shifting by the difference of their motions.
	best, bestShift := math.Inf(1), [2]int{}
	s0, s1 := scans[0], scans[300]
	for i := range s0.Values {
		s0.Values[i], s1.Values[i] = 0, 0
	}
	a, err := m.RawFrame(s0, 0)
	require.NoError(t, err)
	b, err := m.RawFrame(s1, 0)
	require.NoError(t, err)
	ax, ay := m.Motion(s0.Time)
	bx, by := m.Motion(s1.Time)
	require.Greater(t, math.Hypot(bx-ax, by-ay), 1.0, "the brain moved between the scans")
	for sy := -6; sy <= 6; sy++ {
		for sx := -6; sx <= 6; sx++ {
			var d float64
			for y := 64; y < sim.FOVSize-64; y += 2 {
				for x := 64; x < sim.FOVSize-64; x += 2 {
					v := float64(a[y*sim.FOVSize+x]) - float64(b[(y+sy)*sim.FOVSize+x+sx])
					d += v * v
				}
			}
			if d < best {
				best, bestShift = d, [2]int{sx, sy}
			}
		}
	}
	t.Logf("motion %.2f,%.2f -> %.2f,%.2f; best shift %v", ax, ay, bx, by, bestShift)
	require.InDelta(t, bx-ax, float64(bestShift[0]), 1)
	require.InDelta(t, by-ay, float64(bestShift[1]), 1)

	_, err = m.RawFrame(s, 2)
	require.ErrorIs(t, err, rig.ErrInvalid)
	_, err = m.RawFrame(rig.Scan{Values: make([]float32, 3)}, 0)
	require.ErrorIs(t, err, rig.ErrInvalid)
}

// TestParallelDeterministic checks that a population of several chunks
// gives the same scans on one goroutine and on several, whether set by
// GOMAXPROCS or by Config.Workers.
func TestParallelDeterministic(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Neurons = 1030                           // two chunks of 1024 and 6
	cfg.Indicator, _ = sim.IndicatorPreset("8m") // short warm-up
	get := func(procs int) []rig.Scan {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		return run(t, newMouse(t, cfg), `{"family":"grating","segment_frames":10}`, 0.5)
	}
	one, two := get(1), get(2)
	require.Equal(t, one, two)
	cfg.Workers = 3
	require.Equal(t, one, get(1))
}
