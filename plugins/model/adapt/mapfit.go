package adapt

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
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

// When MapOptions.Components is 0, a map with more than ProjectAbove
// channels (the foundation model's 512) is fitted in the span of its
// DefaultComponents leading principal components; a narrower one (the
// built-in model's 120) on all its channels.
const (
	ProjectAbove      = 256
	DefaultComponents = 64
)

// pcaFrames is about how many frames, evenly spaced, estimate the
// channels' covariance for the principal components.
const pcaFrames = 240

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
	// Components: a map with more channels than this is fitted in the span
	// of its channels' leading principal components (see FitMap); a
	// negative value means all channels; 0 means DefaultComponents for maps
	// of more than ProjectAbove channels, all channels otherwise.
	Components int
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
// candidate position share one Fit.
//
// A map with more channels than opts.Components (the foundation model's
// 512) is fitted in the span of the channels' leading principal
// components: their covariance (standardised, over positions and about
// pcaFrames evenly spaced frames) gives an orthonormal basis P of
// Components columns, every frame's map is projected on it once (held as
// float32, frames x positions x Components), and each position's Fit has
// Components + extras regressors instead of channels + extras. The ridge
// penalty is the same in both spaces (P is orthonormal), the weights are
// mapped back to one per channel (P w), so the readout keeps its form; what
// changes is that weights outside the span are zero. The cost per position
// falls with the square and cube of the regressors (512 + 4 -> 68), which
// is what makes a fit at the foundation model's size take seconds, not
// hours; the projection is one matrix product per frame. extra is [frames x E]; y is [frames x
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

	var proj *projection
	if opts.Components == 0 && nc > ProjectAbove {
		opts.Components = DefaultComponents
	}
	if opts.Components > 0 && nc > opts.Components {
		var err error
		if proj, err = principal(ctx, src, mean, sd, opts.Components); err != nil {
			return nil, err
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
		if proj != nil {
			proj.add(t, row)
		}
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
	nfit := nc // regressors per position from the map
	if proj != nil {
		nfit = proj.k
	}
	nf := nfit + ne
	out := &MapReadout{
		Channels: nc, Position: make([]int, nn), W: mat.NewDense(nn, nc+ne, nil), B: make([]float64, nn),
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
			if proj == nil {
				src.Frame(t, row)
			}
			for k, p := range ps {
				xr := xs[k].RawRowView(t)
				if proj == nil {
					for c := range nc {
						xr[c] = float64(row[c*np+p]) / sd[c]
					}
				} else {
					for j, v := range proj.at(t, p) {
						xr[j] = float64(v)
					}
				}
				for e := range ne {
					xr[nfit+e] = (extra.At(t, e) - extraMean[e]) / extraSD[e]
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
					w := 0.0
					if proj == nil {
						w = fit.W.At(c, j)
					} else {
						for m := range proj.k {
							w += proj.basis.At(c, m) * fit.W.At(m, j)
						}
					}
					out.W.Set(i, c, w/sd[c])
				}
				for e := range ne {
					w := fit.W.At(nfit+e, j) / extraSD[e]
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

// projection is a feature map projected on its channels' leading principal
// components: per frame, per position, k coordinates.
type projection struct {
	k, channels, positions int
	basis                  *mat.Dense // [channels x k], orthonormal columns
	scaledT                []float32  // [k x channels]: the basis divided by the channels' s.d., transposed
	data                   []float32  // [frames][positions][k]
	out                    []float32  // scratch: [k x positions]
}

// principal estimates the standardised channels' covariance over the
// positions of about pcaFrames evenly spaced frames and returns a
// projection on its k leading eigenvectors, to be filled by add.
func principal(ctx context.Context, src MapSource, mean, sd []float64, k int) (*projection, error) {
	frames, nc, np := src.Dims()
	row := make([]float32, nc*np)
	z := mat.NewDense(nc, np, nil)
	var cov mat.SymDense
	cov.ReuseAsSym(nc)
	stride := max(1, frames/pcaFrames)
	n := 0
	for t := 0; t < frames; t += stride {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("adapt: %w", err)
		}
		src.Frame(t, row)
		for c := range nc {
			zr := z.RawRowView(c)
			for p, v := range row[c*np : (c+1)*np] {
				zr[p] = (float64(v) - mean[c]) / sd[c]
			}
		}
		cov.SymRankK(&cov, 1, z) // cov += z z'
		n++
	}
	var es mat.EigenSym
	if !es.Factorize(&cov, true) {
		return nil, fmt.Errorf("adapt: the channels' covariance (%d channels): eigendecomposition failed", nc)
	}
	var vecs mat.Dense
	es.VectorsTo(&vecs) // ascending eigenvalues: the leading ones are last
	p := &projection{k: k, channels: nc, positions: np, basis: mat.NewDense(nc, k, nil), scaledT: make([]float32, k*nc),
		data: make([]float32, frames*np*k), out: make([]float32, k*np)}
	for m := range k {
		for c := range nc {
			v := vecs.At(c, nc-1-m)
			p.basis.Set(c, m, v)
			p.scaledT[m*nc+c] = float32(v / sd[c])
		}
	}
	return p, nil
}

// add projects frame t (channel-major, as MapSource.Frame writes it).
func (p *projection) add(t int, row []float32) {
	// [k x channels] x [channels x positions] in float32 (the log's
	// values are bfloat16): the inner loops run along the positions.
	k, nc, np := p.k, p.channels, p.positions
	blas32.Implementation().Sgemm(blas.NoTrans, blas.NoTrans, k, np, nc, 1, p.scaledT, nc, row, np, 0, p.out, np)
	dst := p.data[t*np*k : (t+1)*np*k]
	for m := range k {
		for pos, v := range p.out[m*np : (m+1)*np] {
			dst[pos*k+m] = v
		}
	}
}

// at returns frame t's k coordinates at position pos.
func (p *projection) at(t, pos int) []float32 {
	i := (t*p.positions + pos) * p.k
	return p.data[i : i+p.k]
}
