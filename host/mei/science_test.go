//go:build unix

package mei_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/mei"
	"github.com/twinrig/twinrig/plugins/model/modelplugin"
	"github.com/twinrig/twinrig/plugins/stimulus/present"
	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/sim"
)

// TestInceptionScience is issue 6's science check (opt-in: it takes
// minutes). On the simulated mouse (100 neurons) the built-in model is
// adapted on 10 minutes of natural video, the 20 targets with the best
// cross-validated fit are ranked on a pool and get an image MEI (a video
// MEI too for direction-selective targets), then a fresh session of the
// mouse sees each target's MEI and its controls (the best natural clip and
// the best Gabor of the pool, and a blank), 10 repeats each, 1 s after 1 s
// of gray, in a shuffled order. It reports the fraction of targets whose
// MEI drives them above every control (the mean true rate over the
// repeats), the median correlation of the image MEIs with the neurons'
// analytic optimal stimuli within their support, and the time taken.
//
//	TWINRIG_SCIENCE=1 go test -run InceptionScience -v -timeout 30m ./host/mei/
//
// TWINRIG_SCIENCE_CONTRAST sets the MEIs' RMS contrast (default 0.15);
// TWINRIG_SCIENCE_READOUT (see adaptedModel) reuses an adaptation.
func TestInceptionScience(t *testing.T) {
	if os.Getenv("TWINRIG_SCIENCE") == "" {
		t.Skip("set TWINRIG_SCIENCE=1 to run the inception-loop science check (minutes)")
	}
	ctx := context.Background()
	const (
		width, height = 256, 144
		period        = time.Second / 30
		nTargets      = 20
	)
	frame := mei.DefaultFrameSize
	cfg := sim.DefaultConfig()
	cfg.TruthHistory = 1 << 15
	mouse, err := sim.New(cfg)
	require.NoError(t, err)
	mouse.Reset(1)

	model, ad, tMap, tAdapt := adaptedModel(t, mouse)
	defer model.Close()
	order := make([]int, len(ad.CVScore))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ad.CVScore[b], ad.CVScore[a]) })
	targets := slices.Clone(order[:nTargets])
	slices.Sort(targets)
	t.Logf("adaptation: 10 minutes simulated and predicted in %v, Adapt %v; targets %v (cross-validated r %.2f..%.2f)",
		tMap.Round(time.Millisecond), tAdapt.Round(time.Millisecond), targets,
		ad.CVScore[order[nTargets-1]], ad.CVScore[order[0]])

	// 2. Ranking, on pools rendered by the built-in stimulus plugin.
	renderer := present.NewStimulus(present.Options{})
	eval := mei.Eval{Warmup: 10, Skip: 5}
	const hold = 15
	start := time.Now()
	natural, err := mei.NaturalPool(ctx, renderer, frame, mei.NaturalOptions{Clips: 64, Frames: hold, Seed: 1000})
	require.NoError(t, err)
	gabors, err := mei.GaborPool(ctx, renderer, frame, mei.GaborOptions{Hold: hold})
	require.NoError(t, err)
	noise, err := mei.NoisePool(ctx, renderer, frame, mei.NoiseOptions{Images: 64, Hold: hold})
	require.NoError(t, err)
	pool := slices.Concat(natural, gabors, noise)
	tPool := time.Since(start)
	start, cpu0 := time.Now(), cpuTime(t)
	ranks, err := mei.Rank(ctx, model, targets, pool, mei.RankOptions{Keep: 5, Eval: eval})
	require.NoError(t, err)
	tRank, cRank := time.Since(start), cpuTime(t)-cpu0

	// 3. Synthesis: images for every target, videos for the
	// direction-selective ones.
	jobs := make([]mei.Target, len(ranks))
	for i, r := range ranks {
		jobs[i].Neuron = r.Neuron
		for _, s := range r.ByKind[mei.KindGabor] {
			jobs[i].Warm = append(jobs[i].Warm, pool[s.Item])
		}
	}
	// The defaults (2 components, RMS contrast 0.15: about the natural
	// clips'), with fewer generations for speed.
	opts := mei.SynthOptions{Hold: hold, Eval: eval, Iterations: 12}
	if v := os.Getenv("TWINRIG_SCIENCE_CONTRAST"); v != "" {
		_, err := fmt.Sscan(v, &opts.Contrast)
		require.NoError(t, err, "TWINRIG_SCIENCE_CONTRAST")
	}
	start, cpu0 = time.Now(), cpuTime(t)
	images, err := mei.Synthesise(ctx, model, jobs, opts)
	require.NoError(t, err)
	tSynth, cSynth := time.Since(start), cpuTime(t)-cpu0
	var dsJobs []mei.Target
	for _, j := range jobs {
		if mouse.RF(j.Neuron).DS {
			dsJobs = append(dsJobs, j)
		}
	}
	var videos [][]mei.MEI
	var tVideo time.Duration
	if len(dsJobs) > 0 {
		vopts := opts
		vopts.Video, vopts.Frames = true, hold
		start = time.Now()
		videos, err = mei.Synthesise(ctx, model, dsJobs, vopts)
		require.NoError(t, err)
		tVideo = time.Since(start)
	}
	t.Logf("pool of %d items built in %v; ranking %v; image synthesis for %d targets %v; video synthesis for %d targets %v",
		len(pool), tPool.Round(time.Millisecond), tRank.Round(time.Millisecond), len(jobs), tSynth.Round(time.Millisecond),
		len(dsJobs), tVideo.Round(time.Millisecond))

	// 4. Verification on a fresh session of the mouse.
	type stim struct {
		target int // index into targets
		name   string
		frames []rig.Frame // shown one per display frame, the last held
	}
	blank := rig.Frame{Width: width, Height: height, Pixels: gray(width * height)}
	hold30 := func(f rig.Frame) []rig.Frame {
		out := make([]rig.Frame, 30)
		for i := range out {
			out[i] = f
		}
		return out
	}
	clipOf := func(fs stimuli.Sequence, err error) []rig.Frame {
		require.NoError(t, err)
		out := make([]rig.Frame, 30)
		for i := range out {
			px := make([]byte, width*height)
			fs.Render(i, px)
			out[i] = rig.Frame{Width: width, Height: height, Pixels: px}
		}
		return out
	}
	var stims []stim
	videoOf := map[int]mei.MEI{}
	for i, v := range videos {
		videoOf[dsJobs[i].Neuron] = v[0]
	}
	for i, r := range ranks {
		stims = append(stims,
			stim{i, "mei", clipOf(stimuli.FromSequence(images[i][0].Sequence, width, height, 30))},
			stim{i, "natural", clipOf(stimuli.New(pool[r.ByKind[mei.KindNatural][0].Item].Spec, width, height, 30))},
			stim{i, "gabor", clipOf(stimuli.New(pool[r.ByKind[mei.KindGabor][0].Item].Spec, width, height, 30))},
			stim{i, "blank", hold30(blank)})
		if v, ok := videoOf[r.Neuron]; ok {
			stims = append(stims, stim{i, "video", clipOf(stimuli.FromSequence(v.Sequence, width, height, 30))})
		}
	}
	// RMS contrast (s.d. / 255) of each kind of stimulus shown, for the
	// report: the MEIs' is the constraint's.
	rms := map[string][]float64{}
	for _, st := range stims {
		var n, sum, sum2 float64
		for _, f := range st.frames {
			for _, v := range f.Pixels {
				x := float64(v)
				sum, sum2, n = sum+x, sum2+x*x, n+1
			}
		}
		m := sum / n
		rms[st.name] = append(rms[st.name], math.Sqrt(sum2/n-m*m)/255)
	}
	t.Logf("median RMS contrast shown: MEI %.3f, best natural clip %.3f, best Gabor %.3f",
		median(rms["mei"]), median(rms["natural"]), median(rms["gabor"]))

	const repeats = 10
	var trials []int
	for range repeats {
		for s := range stims {
			trials = append(trials, s)
		}
	}
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(trials), func(a, b int) { trials[a], trials[b] = trials[b], trials[a] })
	mouse.Reset(2)
	sums := make([]float64, len(stims))
	step := 0
	show := func(fr rig.Frame) []sim.Truth {
		at := time.Duration(step) * period
		require.NoError(t, mouse.Observe(at, fr.Pixels, width, height))
		scans := mouse.Scans(at + period - 1)
		step++
		var out []sim.Truth
		for _, s := range scans {
			tr, ok := mouse.Truth(s.Index)
			require.True(t, ok)
			out = append(out, tr)
		}
		return out
	}
	for _, s := range trials {
		for range 30 {
			show(blank)
		}
		st := stims[s]
		n := targets[st.target]
		sum, cnt := 0.0, 0
		for _, f := range st.frames {
			for _, tr := range show(f) {
				sum += float64(tr.Rates[n])
				cnt++
			}
		}
		sums[s] += sum / float64(cnt) / repeats
	}
	wins, winsVideo := 0, 0
	var corrs, margins []float64
	for i := range ranks {
		n := targets[i]
		got := map[string]float64{}
		for s, st := range stims {
			if st.target == i {
				got[st.name] = sums[s]
			}
		}
		best := max(got["natural"], got["gabor"], got["blank"])
		if got["mei"] > best {
			wins++
		}
		if v, ok := got["video"]; ok && max(v, got["mei"]) > best {
			winsVideo++
		}
		margins = append(margins, got["mei"]/best)
		opt, err := mouse.OptimalStimulus(n, width, height)
		require.NoError(t, err)
		rf := mouse.RF(n)
		c := optimalCorrelation(images[i][0].Frames[0].Pixels, opt, rf)
		corrs = append(corrs, c)
		kind := "simple"
		switch {
		case rf.Complex:
			kind = "complex"
		case rf.DS:
			kind = "ds"
		}
		t.Logf("neuron %2d (%-7s r %.2f): true rate MEI %5.2f  video %5.2f  natural %5.2f  gabor %5.2f  blank %5.2f Hz; predicted MEI %.3f vs best pool %.3f; corr with optimum %+.2f",
			n, kind, ad.CVScore[n], got["mei"], got["video"], got["natural"], got["gabor"], got["blank"],
			images[i][0].Response, ranks[i].Best[0].Response, c)
	}
	t.Logf("MEI beats every control for %d of %d targets (%.0f %%; with the video MEI where there is one: %d); median MEI / best control %.2f; median correlation with the optimal stimulus %.2f",
		wins, len(ranks), 100*float64(wins)/float64(len(ranks)), winsVideo, median(margins), median(corrs))
	t.Logf("CPU time: ranking %v, image synthesis %v (load average now: %s)", cRank.Round(time.Millisecond), cSynth.Round(time.Millisecond), loadavg())
	t.Logf("time: adaptation (Adapt) %v + ranking %v + synthesis %v = %v (plus %v simulating and predicting the 10 minutes, %v building the pool)",
		tAdapt.Round(time.Millisecond), tRank.Round(time.Millisecond), (tSynth + tVideo).Round(time.Millisecond),
		(tAdapt + tRank + tSynth + tVideo).Round(time.Millisecond), tMap.Round(time.Millisecond), tPool.Round(time.Millisecond))
}

// adaptedModel returns the built-in model adapted to mouse on 10 minutes of
// natural video, as a session does it, with the time taken simulating and
// predicting, and adapting. With TWINRIG_SCIENCE_READOUT=path it saves the
// readout (and the cross-validated scores) there, and a later run loads
// them instead of adapting again (its times are then 0).
func adaptedModel(t *testing.T, mouse *sim.Mouse) (*modelplugin.Model, rig.AdaptResponse, time.Duration, time.Duration) {
	const (
		width, height = 256, 144
		period        = time.Second / 30
		mapFrames     = 18000 // 10 min
	)
	ctx := context.Background()
	cache := os.Getenv("TWINRIG_SCIENCE_READOUT")
	model := modelplugin.New()
	if cache != "" {
		if b, err := os.ReadFile(cache + ".cv.json"); err == nil {
			var ad rig.AdaptResponse
			require.NoError(t, json.Unmarshal(b, &ad))
			_, err = model.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(fmt.Sprintf(`{"neurons": 100, "threads": 2, "readout": %q}`, cache))})
			require.NoError(t, err)
			t.Logf("loaded the readout saved in %s", cache)
			return model, ad, 0, 0
		}
	}
	_, err := model.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neurons": 100, "threads": 2}`)})
	require.NoError(t, err)
	_, err = model.Reset(ctx, rig.ResetRequest{})
	require.NoError(t, err)
	start := time.Now()
	seq, err := stimuli.New(json.RawMessage(`{"family":"natural","seed":11}`), width, height, 30)
	require.NoError(t, err)
	var responses [][]float32
	for k := 0; k < mapFrames; k += 300 {
		frames := make([]rig.Frame, 300)
		behs := make([]rig.Behaviour, 300)
		for i := range frames {
			px := make([]byte, width*height)
			seq.Render(k+i, px)
			frames[i] = rig.Frame{Width: width, Height: height, Pixels: px}
			at := time.Duration(k+i) * period
			require.NoError(t, mouse.Observe(at, px, width, height))
			scans := mouse.Scans(at + period - 1)
			require.Len(t, scans, 1)
			responses = append(responses, scans[0].Values)
			behs[i] = scans[0].Behaviour
		}
		_, err := model.Predict(ctx, rig.PredictRequest{Frames: frames, Behaviour: behs})
		require.NoError(t, err)
	}
	tMap := time.Since(start)
	start = time.Now()
	req := rig.AdaptRequest{IndicatorDecay: 1250 * time.Millisecond, SavePath: cache}
	for s := 10; s < mapFrames; s++ {
		req.Steps = append(req.Steps, int64(s))
	}
	req.Responses = responses[10:]
	ad, err := model.Adapt(ctx, req)
	require.NoError(t, err)
	tAdapt := time.Since(start)
	if cache != "" {
		b, err := json.Marshal(ad)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(cache+".cv.json", b, 0o644))
	}
	return model, ad, tMap, tAdapt
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return string(b[:min(len(b), 14)])
}

func gray(n int) []byte {
	px := make([]byte, n)
	for i := range px {
		px[i] = 128
	}
	return px
}

// optimalCorrelation is the Pearson correlation of an image with a
// neuron's optimal stimulus over the optimum's support (its pixels that are
// not mean gray). A complex or direction-selective cell's optimum is one
// phase of its quadrature pair, any other phase driving it as well: for
// them it is the best over 36 phases of the same binary Gabor (the RF's
// even and odd filters mixed, binarised like sim's optimum).
func optimalCorrelation(px []byte, opt sim.Stimulus, rf sim.RF) float64 {
	o := opt.Frame(0)
	corr := func(ref func(i int) float64) float64 {
		var n, sa, sb, saa, sbb, sab float64
		for i, v := range o {
			if v == 128 {
				continue
			}
			a, b := float64(px[i]), ref(i)
			sa, sb, saa, sbb, sab, n = sa+a, sb+b, saa+a*a, sbb+b*b, sab+a*b, n+1
		}
		return (sab - sa*sb/n) / math.Sqrt((saa-sa*sa/n)*(sbb-sb*sb/n))
	}
	if !rf.Complex && !rf.DS {
		return corr(func(i int) float64 { return float64(o[i]) })
	}
	const width, height = 256, 144
	th := rf.OrientationDeg * math.Pi / 180
	kx, ky := rf.CyclesPerWidth*math.Cos(th)/width, rf.CyclesPerWidth*math.Sin(th)/width
	best := math.Inf(-1)
	for k := range 36 {
		ph := float64(k) * math.Pi / 18
		best = max(best, corr(func(i int) float64 {
			dx := float64(i%width) + 0.5 - rf.X*width
			dy := rf.Y*height - float64(i/width) - 0.5
			if math.Cos(2*math.Pi*(kx*dx+ky*dy)+ph) > 0 {
				return 1
			}
			return -1
		}))
	}
	return best
}

func median(v []float64) float64 {
	w := slices.Clone(v)
	slices.Sort(w)
	if len(w) == 0 {
		return math.NaN()
	}
	return (w[(len(w)-1)/2] + w[len(w)/2]) / 2
}
