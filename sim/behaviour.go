package sim

import (
	"math"
	"math/rand/v2"
	"sync"
)

// BehaviourState is the mouse's behaviour at one moment, in physical units.
type BehaviourState struct {
	// Running is true during a running bout.
	Running bool
	// Speed is the treadmill velocity, cm/s (>= 0: the simulated mouse
	// never walks backwards).
	Speed float64
	// PupilX and PupilY are the pupil centre's offset from its resting
	// position, mm (x rightward, y up).
	PupilX, PupilY float64
	// PupilRadius is the pupil radius, mm.
	PupilRadius float64
}

// BehaviourStats are the means and s.d.s of the four behaviour variables
// used to z-score them into rig.Behaviour: the "training-set statistics"
// of this mouse, measured on a one-hour session of its behaviour process
// drawn from a random stream of its own (so they do not depend on the
// session).
type BehaviourStats struct {
	Mean, SD BehaviourState
}

// Behaviour process constants (see the package documentation).
const (
	speedTau       = 0.5  // s: the speed's approach to its bout target
	speedCV        = 0.3  // per-bout target speed: log-normal s.d.
	speedJitter    = 0.15 // running speed's fluctuation, fraction of RunSpeed
	pupilBase      = 0.4  // mm: resting pupil radius
	pupilRunDilate = 0.15 // mm: dilation at RunSpeed
	pupilRunTau    = 2.0  // s: the pupil's lag behind running
	pupilSlowSD    = 0.05 // mm: slow arousal fluctuation s.d.
	pupilSlowTau   = 8.0  // s
	saccadeRate    = 0.3  // Hz while still; doubled while running
	saccadeSD      = 0.08 // mm: s.d. of saccade targets
	fixationTau    = 3.0  // s: the centre's drift back to rest between saccades
	statsSeconds   = 3600 // length of the statistics session
	statsStep      = 0.05 // s: its step
)

// behaviour is the seeded behaviour process.
type behaviour struct {
	cfg      BehaviourConfig
	running  bool
	target   float64 // this bout's target speed
	speed    float64
	jitter   float64 // OU, fraction of RunSpeed
	dilation float64 // low-passed speed / RunSpeed
	slow     float64 // OU, mm
	x, y     float64
}

// newBehaviour starts the process in a state drawn from rng: running with
// the stationary probability, at rest otherwise.
func newBehaviour(cfg BehaviourConfig, rng *rand.Rand) *behaviour {
	b := &behaviour{cfg: cfg}
	run, still := cfg.RunBout.Seconds(), cfg.StillBout.Seconds()
	if rng.Float64() < run/(run+still) {
		b.running = true
		b.target = b.drawTarget(rng)
		b.speed = b.target
		b.dilation = 1
	}
	b.slow = pupilSlowSD * rng.NormFloat64()
	return b
}

func (b *behaviour) drawTarget(rng *rand.Rand) float64 {
	return b.cfg.RunSpeed * math.Exp(speedCV*rng.NormFloat64()-speedCV*speedCV/2)
}

// advance moves the process on by dt seconds.
func (b *behaviour) advance(dt float64, rng *rand.Rand) {
	bout := b.cfg.StillBout.Seconds()
	if b.running {
		bout = b.cfg.RunBout.Seconds()
	}
	if rng.Float64() < 1-math.Exp(-dt/bout) {
		b.running = !b.running
		if b.running {
			b.target = b.drawTarget(rng)
		}
	}
	target := 0.0
	if b.running {
		target = b.target
	}
	b.jitter = ou(b.jitter, speedJitter, 1, dt, rng)
	b.speed += (target - b.speed) * (1 - math.Exp(-dt/speedTau))
	b.dilation += (b.speed/b.cfg.RunSpeed - b.dilation) * (1 - math.Exp(-dt/pupilRunTau))
	b.slow = ou(b.slow, pupilSlowSD, pupilSlowTau, dt, rng)
	rate := saccadeRate
	if b.running {
		rate *= 2
	}
	if rng.Float64() < rate*dt {
		b.x, b.y = saccadeSD*rng.NormFloat64(), saccadeSD*rng.NormFloat64()
	} else {
		back := math.Exp(-dt / fixationTau)
		b.x *= back
		b.y *= back
	}
}

// state returns the current behaviour.
func (b *behaviour) state() BehaviourState {
	speed := b.speed
	if b.running {
		speed = max(0, speed+b.jitter*b.cfg.RunSpeed*min(1, speed/b.cfg.RunSpeed))
	}
	return BehaviourState{
		Running:     b.running,
		Speed:       speed,
		PupilX:      b.x,
		PupilY:      b.y,
		PupilRadius: max(0.05, pupilBase+pupilRunDilate*b.dilation+b.slow),
	}
}

// ou advances an Ornstein-Uhlenbeck process with stationary s.d. sd and
// time constant tau (s) by dt, exactly.
func ou(x, sd, tau, dt float64, rng *rand.Rand) float64 {
	a := math.Exp(-dt / tau)
	return a*x + sd*math.Sqrt(1-a*a)*rng.NormFloat64()
}

// statsKey identifies a statistics session.
type statsKey struct {
	cfg  BehaviourConfig
	seed uint64
}

// statsCache remembers measured statistics: they are a pure function of
// the behaviour settings and the seed, and cost a one-hour simulation.
var statsCache sync.Map // statsKey -> BehaviourStats

// behaviourStats returns the statistics of the process cfg describes for
// seed, measured once per process (see measureBehaviour).
func behaviourStats(cfg BehaviourConfig, seed uint64) BehaviourStats {
	key := statsKey{cfg, seed}
	if st, ok := statsCache.Load(key); ok {
		return st.(BehaviourStats)
	}
	st := measureBehaviour(cfg, rand.New(rand.NewPCG(seed, statsStream)))
	statsCache.Store(key, st)
	return st
}

// measureBehaviour runs the process for statsSeconds and returns its
// statistics.
func measureBehaviour(cfg BehaviourConfig, rng *rand.Rand) BehaviourStats {
	b := newBehaviour(cfg, rng)
	var sum, sq [4]float64
	n := int(statsSeconds / statsStep)
	for range n {
		b.advance(statsStep, rng)
		s := b.state()
		v := [4]float64{s.PupilX, s.PupilY, s.PupilRadius, s.Speed}
		for j, x := range v {
			sum[j] += x
			sq[j] += x * x
		}
	}
	var mu, sd [4]float64
	for j := range mu {
		mu[j] = sum[j] / float64(n)
		sd[j] = math.Sqrt(max(1e-12, sq[j]/float64(n)-mu[j]*mu[j]))
	}
	return BehaviourStats{
		Mean: BehaviourState{PupilX: mu[0], PupilY: mu[1], PupilRadius: mu[2], Speed: mu[3]},
		SD:   BehaviourState{PupilX: sd[0], PupilY: sd[1], PupilRadius: sd[2], Speed: sd[3]},
	}
}

// ZScore returns s as rig.Behaviour fields (pupil x, pupil y, pupil
// radius, treadmill), each (value - mean) / s.d.
func (st BehaviourStats) ZScore(s BehaviourState) [4]float32 {
	z := func(v, m, sd float64) float32 { return float32((v - m) / sd) }
	return [4]float32{
		z(s.PupilX, st.Mean.PupilX, st.SD.PupilX),
		z(s.PupilY, st.Mean.PupilY, st.SD.PupilY),
		z(s.PupilRadius, st.Mean.PupilRadius, st.SD.PupilRadius),
		z(s.Speed, st.Mean.Speed, st.SD.Speed),
	}
}
