package adapt

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/twinrig/twinrig/rig"
)

// MapSource is a core's feature map over the frames of a recording, read
// one frame at a time, as many times as FitMap needs (a few passes).
type MapSource interface {
	// Dims returns the number of frames, of channels and of positions (the
	// map's height times width); a frame holds channels*positions values,
	// channel-major: value (c, p) at c*positions+p.
	Dims() (frames, channels, positions int)
	// Frame writes frame t's values into dst, which has
	// channels*positions elements.
	Frame(t int, dst []float32)
}

// LocaliseGroups bounds the groups of channels whose activity locates a
// neuron on the map (see FitMap).
const LocaliseGroups = 8

// DefaultCandidates is the number of positions FitMap tries per neuron
// when MapOptions.Candidates is 0.
const DefaultCandidates = 4

// MapOptions configure FitMap. The zero value uses the defaults.
type MapOptions struct {
	// Options configure the ridge fit at each position (Options.Progress
	// is not used; see Progress below).
	Options
	// Candidates is how many positions are fitted per neuron, those whose
	// summed feature activity correlates best with the neuron's response;
	// 0 means DefaultCandidates.
	Candidates int
	// MaxBytes bounds the memory of the design matrices held at once (the
	// positions are fitted in groups that fit); 0 means 256 MiB.
	MaxBytes int
	// Progress, when set, is called after each group of positions with the
	// positions fitted so far and in all.
	Progress func(done, total int)
}

// MapReadout is a readout fitted on a feature map: neuron i reads the
// channels at one position, Position[i], and the extra regressors, and
// predicts exp(sum_c x[c, Position[i]] W[i, c] + sum_e extra[e] W[i,
// channels+e] + B[i]).
type MapReadout struct {
	Channels int
	Position []int
	// W is [neurons x (channels + extras)].
	W *mat.Dense
	B []float64
	// Lambda, CVScore: see Readout, for the chosen position.
	Lambda, CVScore []float64
}

// FitMap fits a position readout (the form of the foundation model's: a
// position on the core's feature map and a weight per channel, see
// docs/science.md#readout) for every column of y: for each neuron it
// localises the best Candidates positions by how well the activity of
// groups of channels there correlates with its response, fits a
// cross-validated ridge readout (Fit) on the channels at each of them plus
// the extra regressors (e.g. behaviour; nil for none), and keeps the
// position with the best cross-validated score. Neurons that share a
// candidate position share one Fit. extra is [frames x E]; y is [frames x
// neurons], non-negative and finite. Errors wrap rig.ErrInvalid for bad
// shapes or values; a cancelled ctx stops FitMap between fits.
func FitMap(ctx context.Context, src MapSource, extra, y *mat.Dense, opts MapOptions) (*MapReadout, error) {
	frames, nc, np := src.Dims()
	yf, nn := y.Dims()
	ne := 0
	if extra != nil {
		var ef int
		ef, ne = extra.Dims()
		if ef != frames {
			return nil, fmt.Errorf("adapt: extra regressors have %d rows for %d frames, expected one per frame: %w", ef, frames, rig.ErrInvalid)
		}
	}
	switch {
	case nc < 1 || np < 1:
		return nil, fmt.Errorf("adapt: feature map of %d channels x %d positions, expected at least 1 x 1: %w", nc, np, rig.ErrInvalid)
	case yf != frames:
		return nil, fmt.Errorf("adapt: responses y have %d rows for %d frames, expected one per frame: %w", yf, frames, rig.ErrInvalid)
	}
	if opts.Candidates <= 0 {
		opts.Candidates = DefaultCandidates
	}
	opts.Candidates = min(opts.Candidates, np)
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 20
	}
	opts.Options.Progress = nil

	// Pass 1: each channel's mean and s.d. over frames and positions.
	row := make([]float32, nc*np)
	mean, sd := make([]float64, nc), make([]float64, nc)
	for t := range frames {
		src.Frame(t, row)
		for c := range nc {
			s, ss := 0.0, 0.0
			for _, v := range row[c*np : (c+1)*np] {
				s += float64(v)
				ss += float64(v) * float64(v)
			}
			mean[c] += s
			sd[c] += ss
		}
	}
	count := float64(frames * np)
	for c := range nc {
		mean[c] /= count
		sd[c] = math.Sqrt(max(0, sd[c]/count-mean[c]*mean[c]))
		if !(sd[c] > 0) {
			sd[c] = 1 // a constant channel: its weight stays at zero
		}
	}

	// Pass 2: localisation. The channels fall into up to
	// LocaliseGroups contiguous groups; the activity a[t, g, p] is the
	// mean standardised value of group g's channels at position p, and a
	// position's score for a neuron is the sum over groups of the squared
	// correlation of its response with that activity.
	groups := min(nc, LocaliseGroups)
	act := mat.NewDense(frames, groups*np, nil)
	for t := range frames {
		src.Frame(t, row)
		ar := act.RawRowView(t)
		for c := range nc {
			g := c * groups / nc
			inv := 1 / sd[c]
			dst := ar[g*np : (g+1)*np]
			for p, v := range row[c*np : (c+1)*np] {
				dst[p] += float64(v) * inv
			}
		}
	}
	corr := correlations(act, y)
	score := mat.NewDense(np, nn, nil)
	for g := range groups {
		for p := range np {
			cr, sr := corr.RawRowView(g*np+p), score.RawRowView(p)
			for i, v := range cr {
				sr[i] += v * v
			}
		}
	}
	candidates := make([][]int, nn) // per neuron, its candidate positions
	users := make([][]int, np)      // per position, the neurons trying it
	order := make([]int, np)
	for i := range nn {
		for p := range order {
			order[p] = p
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(score.At(b, i), score.At(a, i)) })
		candidates[i] = slices.Clone(order[:opts.Candidates])
		for _, p := range candidates[i] {
			users[p] = append(users[p], i)
		}
	}
	var used []int
	for p := range np {
		if len(users[p]) > 0 {
			used = append(used, p)
		}
	}

	// Pass 3 (per group of positions): each position's design matrix, one
	// Fit for the neurons trying it.
	nf := nc + ne
	out := &MapReadout{
		Channels: nc, Position: make([]int, nn), W: mat.NewDense(nn, nf, nil), B: make([]float64, nn),
		Lambda: make([]float64, nn), CVScore: make([]float64, nn),
	}
	best, chosen := make([]float64, nn), make([]bool, nn)
	for i := range best {
		best[i] = math.Inf(-1)
		out.CVScore[i] = math.NaN()
	}
	var extraMean, extraSD []float64
	if ne > 0 {
		extraMean, extraSD = columnStats(extra)
	}
	group := max(1, opts.MaxBytes/(8*frames*nf))
	for g0 := 0; g0 < len(used); g0 += group {
		ps := used[g0:min(len(used), g0+group)]
		xs := make([]*mat.Dense, len(ps))
		for k := range ps {
			xs[k] = mat.NewDense(frames, nf, nil)
		}
		for t := range frames {
			src.Frame(t, row)
			for k, p := range ps {
				xr := xs[k].RawRowView(t)
				for c := range nc {
					xr[c] = float64(row[c*np+p]) / sd[c]
				}
				for e := range ne {
					xr[nc+e] = (extra.At(t, e) - extraMean[e]) / extraSD[e]
				}
			}
		}
		for k, p := range ps {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("adapt: %w", err)
			}
			ys := mat.NewDense(frames, len(users[p]), nil)
			for j, i := range users[p] {
				ys.SetCol(j, mat.Col(nil, i, y))
			}
			fit, err := Fit(ctx, xs[k], ys, opts.Options)
			if err != nil {
				return nil, fmt.Errorf("adapt: position %d: %w", p, err)
			}
			for j, i := range users[p] {
				score := fit.CVScore[j]
				if math.IsNaN(score) {
					score = math.Inf(-1)
				}
				if chosen[i] && score <= best[i] {
					continue
				}
				chosen[i] = true
				best[i] = score
				out.Position[i], out.Lambda[i], out.CVScore[i] = p, fit.Lambda[j], fit.CVScore[j]
				// Back to the features' own units.
				b := fit.B[j]
				for c := range nc {
					out.W.Set(i, c, fit.W.At(c, j)/sd[c])
				}
				for e := range ne {
					w := fit.W.At(nc+e, j) / extraSD[e]
					out.W.Set(i, nc+e, w)
					b -= w * extraMean[e]
				}
				out.B[i] = b
			}
		}
		if opts.Progress != nil {
			opts.Progress(min(len(used), g0+group), len(used))
		}
	}
	return out, nil
}

// columnStats returns each column's mean and s.d. (1 for a constant
// column).
func columnStats(m *mat.Dense) (mean, sd []float64) {
	r, c := m.Dims()
	mean, sd = make([]float64, c), make([]float64, c)
	for j := range c {
		s, ss := 0.0, 0.0
		for i := range r {
			v := m.At(i, j)
			s += v
			ss += v * v
		}
		mean[j] = s / float64(r)
		sd[j] = math.Sqrt(max(0, ss/float64(r)-mean[j]*mean[j]))
		if !(sd[j] > 1e-12) {
			sd[j] = 1
		}
	}
	return mean, sd
}

// correlations returns the [positions x neurons] Pearson correlations
// between the columns of a and of y (0 where either is constant).
func correlations(a, y *mat.Dense) *mat.Dense {
	frames, np := a.Dims()
	_, nn := y.Dims()
	centre := func(m *mat.Dense, n int) *mat.Dense {
		mean, _ := columnStats(m)
		out := mat.NewDense(frames, n, nil)
		for t := range frames {
			src, dst := m.RawRowView(t), out.RawRowView(t)
			for j := range n {
				dst[j] = src[j] - mean[j]
			}
		}
		for j := range n {
			norm := mat.Norm(out.ColView(j), 2)
			if norm > 0 {
				for t := range frames {
					out.Set(t, j, out.At(t, j)/norm)
				}
			}
		}
		return out
	}
	ac, yc := centre(a, np), centre(y, nn)
	var c mat.Dense
	c.Mul(ac.T(), yc)
	return &c
}
