package deconv

import (
	"errors"
	"fmt"
	"math"

	"github.com/twinrig/twinrig/rig"
)

// Config sets up a Deconvolver.
type Config struct {
	// Gamma is the AR(1) coefficient in (0, 1): the calcium decay per frame,
	// exp(-1 / (tau * rate)) for a decay time tau at a frame rate.
	Gamma float64
	// Lambda is the sparsity penalty (>= 0, in trace units); 0 by default.
	Lambda float64
	// MinSpike is the smallest accepted jump (>= 0, in trace units); 0
	// disables the threshold.
	MinSpike float64
	// Lag is how many frames the output trails the input (0 to 1000).
	Lag int
}

// GammaFromTau returns exp(-1/(tau*rate)): the AR(1) coefficient for a
// decay time constant tau (seconds) at rate frames per second.
func GammaFromTau(tau, rate float64) float64 { return math.Exp(-1 / (tau * rate)) }

// Check reports every invalid field, wrapping rig.ErrInvalid.
func (c Config) Check() error {
	var errs []error
	if !(c.Gamma > 0 && c.Gamma < 1) {
		errs = append(errs, fmt.Errorf("deconv: Gamma %v, want in (0, 1): %w", c.Gamma, rig.ErrInvalid))
	}
	if !(c.Lambda >= 0) || math.IsInf(c.Lambda, 0) {
		errs = append(errs, fmt.Errorf("deconv: Lambda %v, want a finite value >= 0: %w", c.Lambda, rig.ErrInvalid))
	}
	if !(c.MinSpike >= 0) || math.IsInf(c.MinSpike, 0) {
		errs = append(errs, fmt.Errorf("deconv: MinSpike %v, want a finite value >= 0: %w", c.MinSpike, rig.ErrInvalid))
	}
	if c.Lag < 0 || c.Lag > 1000 {
		errs = append(errs, fmt.Errorf("deconv: Lag %d, want 0 to 1000: %w", c.Lag, rig.ErrInvalid))
	}
	return errors.Join(errs...)
}

// pool is a run of samples c[t..t+l-1] = v * gamma^(k) for k = 0..l-1,
// with w = sum gamma^(2k) and the weighted data sum used to merge.
type pool struct {
	v, w float64
	t, l int
}

// Deconvolver deconvolves one trace online.
type Deconvolver struct {
	cfg   Config
	g     float64
	pools []pool // ring buffer of live pools
	head  int    // index of the first live pool in the ring
	n     int    // live pools
	t     int    // samples pushed
	// boundary: the calcium value at the last frozen sample (time t0-1)
	fixedC float64
	fixedT int
	pw     []float64 // gamma^k for small k (shared within a Bank)
}

// powTable is how many powers of gamma are tabulated; longer pools use
// math.Pow. The table makes BenchmarkBank500 about 4x faster.
const powTable = 512

// powers returns gamma^k for k = 0..powTable-1.
func powers(g float64) []float64 {
	pw := make([]float64, powTable)
	pw[0] = 1
	for k := 1; k < len(pw); k++ {
		pw[k] = pw[k-1] * g
	}
	return pw
}

// pow returns gamma^k.
func (d *Deconvolver) pow(k int) float64 {
	if k >= 0 && k < len(d.pw) {
		return d.pw[k]
	}
	return math.Pow(d.g, float64(k))
}

// New checks cfg and returns a Deconvolver.
func New(cfg Config) (*Deconvolver, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	return &Deconvolver{cfg: cfg, g: cfg.Gamma, pools: make([]pool, cfg.Lag+4), fixedT: -1, pw: powers(cfg.Gamma)}, nil
}

func (d *Deconvolver) at(i int) *pool { return &d.pools[(d.head+i)%len(d.pools)] }

// Push adds sample y (time t = number of samples pushed before) and returns
// the activity s for time t-Lag and whether there is one (false for the
// first Lag samples).
func (d *Deconvolver) Push(y float64) (float64, bool) {
	if math.IsNaN(y) || math.IsInf(y, 0) {
		y = 0 // a missing sample counts as no signal
	}
	t := d.t
	d.t++
	// The penalty shifts the data: y - Lambda*(1 - gamma).
	y -= d.cfg.Lambda * (1 - d.g)
	if d.n == len(d.pools) {
		d.freeze()
	}
	*d.at(d.n) = pool{v: y, w: 1, t: t, l: 1}
	d.n++
	for d.n >= 2 {
		p, q := d.at(d.n-2), d.at(d.n-1)
		gl := d.pow(p.l)
		if q.v >= gl*p.v+d.cfg.MinSpike {
			break
		}
		g2l := gl * gl
		p.v = (p.w*p.v + gl*q.w*q.v) / (p.w + g2l*q.w)
		p.w += g2l * q.w
		p.l += q.l
		d.n--
	}
	{
		// The first live pool cannot start below the decayed boundary (an
		// approximation: a frozen pool is never re-fitted).
		p := d.at(0)
		floor := 0.0
		if d.fixedT >= 0 {
			floor = d.fixedC * d.g
		}
		if p.v < floor {
			p.v = floor
		}
	}
	if p := d.at(0); p.v < 0 {
		p.v = 0
	}
	// Freeze pools that end before the output time minus one.
	out := t - d.cfg.Lag
	for d.n > 1 && d.at(0).t+d.at(0).l-1 < out-1 {
		d.freeze()
	}
	if out < 0 {
		return 0, false
	}
	return math.Max(0, d.calcium(out)-d.g*d.calcium(out-1)), true
}

// freeze folds the first live pool into the boundary.
func (d *Deconvolver) freeze() {
	p := d.at(0)
	d.fixedC = p.v * d.pow(p.l-1)
	d.fixedT = p.t + p.l - 1
	d.head = (d.head + 1) % len(d.pools)
	d.n--
}

// calcium returns the current estimate of c at time t (0 before time 0).
func (d *Deconvolver) calcium(t int) float64 {
	if t < 0 {
		return 0
	}
	if t == d.fixedT {
		return d.fixedC
	}
	for i := d.n - 1; i >= 0; i-- {
		p := d.at(i)
		if t >= p.t {
			return p.v * d.pow(t-p.t)
		}
	}
	// Inside the frozen pool that ends at the boundary (never asked for in
	// practice: outputs trail the newest sample by Lag, pools are frozen
	// only once they end before that).
	return d.fixedC * d.pow(t-d.fixedT)
}

// Reset forgets all samples.
func (d *Deconvolver) Reset() {
	d.head, d.n, d.t, d.fixedC, d.fixedT = 0, 0, 0, 0, -1
}

// Bank runs one Deconvolver per trace with a shared Config.
type Bank struct {
	ds []*Deconvolver
}

// NewBank returns a Bank of n deconvolvers.
func NewBank(n int, cfg Config) (*Bank, error) {
	if n < 0 {
		return nil, fmt.Errorf("deconv: %d traces, want >= 0: %w", n, rig.ErrInvalid)
	}
	b := &Bank{ds: make([]*Deconvolver, n)}
	for i := range b.ds {
		d, err := New(cfg)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			d.pw = b.ds[0].pw // one table for all
		}
		b.ds[i] = d
	}
	return b, nil
}

// Push adds one sample per trace (len(y) must equal the bank's size) and
// writes the activity Lag frames back into dst (same length); ok is false
// (and dst zero) for the first Lag samples.
func (b *Bank) Push(dst, y []float32) (ok bool, err error) {
	if len(y) != len(b.ds) || len(dst) != len(b.ds) {
		return false, fmt.Errorf("deconv: %d samples and %d outputs for %d traces: %w", len(y), len(dst), len(b.ds), rig.ErrInvalid)
	}
	for i, d := range b.ds {
		s, valid := d.Push(float64(y[i]))
		dst[i] = float32(s)
		ok = valid
	}
	return ok, nil
}
