package sim

import (
	"math"
	"slices"
)

// spectralEnergy is the fraction of a receptive field's energy that its
// frequency-domain version keeps.
const spectralEnergy = 0.99

// minSpectralWeights is the smallest spatial filter (in weights) worth
// trying in the frequency domain.
const minSpectralWeights = 48

// spectrum computes the 2-D discrete Fourier transform of stimulus grids
// over the half plane kx = 0..gw/2, all ky: enough for real grids. Bin
// (ky, kx) lies at index 2*(ky*hw + kx) of the output (real part, then
// imaginary part), hw = gw/2 + 1; G(k) = sum_x g(x) exp(-i theta_k(x)) with
// theta_k(x) = 2 pi (kx x / gw + ky y / gh).
type spectrum struct {
	gw, gh, hw   int
	cx, sx       []float64 // [kx*gw + x]
	cy, sy       []float64 // [ky*gh + y]
	rowRe, rowIm []float64 // [y*hw + kx] scratch
	in           []float64
	// used, when set by restrict, lists the bins (ky*hw + kx) transform32
	// computes; the others are left as they are. usedKx marks their kx.
	used   []int32
	usedKx []int32
}

// restrict makes transform32 compute only the bins the filters use.
func (s *spectrum) restrict(filters []filter) {
	bins := make([]bool, s.gh*s.hw)
	kxs := make([]bool, s.hw)
	for i := range filters {
		if !filters[i].spectral {
			continue
		}
		for _, fr := range filters[i].rows {
			for q := 0; q < fr.n; q += 2 {
				b := (fr.start + q) / 2
				bins[b] = true
				kxs[b%s.hw] = true
			}
		}
	}
	s.used, s.usedKx = s.used[:0], s.usedKx[:0]
	for b, ok := range bins {
		if ok {
			s.used = append(s.used, int32(b))
		}
	}
	for kx, ok := range kxs {
		if ok {
			s.usedKx = append(s.usedKx, int32(kx))
		}
	}
}

func newSpectrum(gw, gh int) *spectrum {
	hw := gw/2 + 1
	s := &spectrum{gw: gw, gh: gh, hw: hw,
		cx: make([]float64, hw*gw), sx: make([]float64, hw*gw),
		cy: make([]float64, gh*gh), sy: make([]float64, gh*gh),
		rowRe: make([]float64, gh*hw), rowIm: make([]float64, gh*hw),
		in: make([]float64, gw*gh),
	}
	for kx := range hw {
		for x := range gw {
			a := 2 * math.Pi * float64(kx*x%gw) / float64(gw)
			s.cx[kx*gw+x], s.sx[kx*gw+x] = math.Cos(a), math.Sin(a)
		}
	}
	for ky := range gh {
		for y := range gh {
			a := 2 * math.Pi * float64(ky*y%gh) / float64(gh)
			s.cy[ky*gh+y], s.sy[ky*gh+y] = math.Cos(a), math.Sin(a)
		}
	}
	return s
}

// bins is the length of the output.
func (s *spectrum) bins() int { return 2 * s.gh * s.hw }

// transform writes the half-plane spectrum of g (gw*gh values, row by row)
// into out (bins() values).
func (s *spectrum) transform(g []float64, out []float64) {
	gw, gh, hw := s.gw, s.gh, s.hw
	for y := range gh {
		row := g[y*gw : (y+1)*gw]
		for kx := range hw {
			c, sn := s.cx[kx*gw:][:gw], s.sx[kx*gw:][:gw]
			var re, im float64
			for x, v := range row {
				re += v * c[x]
				im -= v * sn[x]
			}
			s.rowRe[y*hw+kx], s.rowIm[y*hw+kx] = re, im
		}
	}
	for ky := range gh {
		c, sn := s.cy[ky*gh:][:gh], s.sy[ky*gh:][:gh]
		for kx := range hw {
			var re, im float64
			for y := range gh {
				// (r + i m)(c - i s)
				r, m := s.rowRe[y*hw+kx], s.rowIm[y*hw+kx]
				re += r*c[y] + m*sn[y]
				im += m*c[y] - r*sn[y]
			}
			out[2*(ky*hw+kx)], out[2*(ky*hw+kx)+1] = re, im
		}
	}
}

// transformSome computes only the given bins (ky*hw + kx) of g's
// spectrum into out, with transform's conventions.
func (s *spectrum) transformSome(g []float64, bins []int, out []float64) {
	gw, gh, hw := s.gw, s.gh, s.hw
	kxs := make([]bool, hw)
	for _, b := range bins {
		kxs[b%hw] = true
	}
	for y := range gh {
		row := g[y*gw : (y+1)*gw]
		for kx, ok := range kxs {
			if !ok {
				continue
			}
			c, sn := s.cx[kx*gw:][:gw], s.sx[kx*gw:][:gw]
			var re, im float64
			for x, v := range row {
				re += v * c[x]
				im -= v * sn[x]
			}
			s.rowRe[y*hw+kx], s.rowIm[y*hw+kx] = re, im
		}
	}
	for _, b := range bins {
		ky, kx := b/hw, b%hw
		c, sn := s.cy[ky*gh:][:gh], s.sy[ky*gh:][:gh]
		var re, im float64
		for y := range gh {
			r, m := s.rowRe[y*hw+kx], s.rowIm[y*hw+kx]
			re += r*c[y] + m*sn[y]
			im += m*c[y] - r*sn[y]
		}
		out[2*b], out[2*b+1] = re, im
	}
}

// transform32 computes the bins restrict selected of a float32 grid's
// spectrum into out, with transform's conventions.
func (s *spectrum) transform32(g []float32, out []float32) {
	gw, gh, hw := s.gw, s.gh, s.hw
	for y := range gh {
		row := g[y*gw : (y+1)*gw]
		for _, kx := range s.usedKx {
			c, sn := s.cx[int(kx)*gw:][:gw], s.sx[int(kx)*gw:][:gw]
			var re, im float64
			for x, v := range row {
				re += float64(v) * c[x]
				im -= float64(v) * sn[x]
			}
			s.rowRe[y*hw+int(kx)], s.rowIm[y*hw+int(kx)] = re, im
		}
	}
	for _, b := range s.used {
		ky, kx := int(b)/hw, int(b)%hw
		c, sn := s.cy[ky*gh:][:gh], s.sy[ky*gh:][:gh]
		var re, im float64
		for y := range gh {
			r, m := s.rowRe[y*hw+kx], s.rowIm[y*hw+kx]
			re += r*c[y] + m*sn[y]
			im += m*c[y] - r*sn[y]
		}
		out[2*b], out[2*b+1] = float32(re), float32(im)
	}
}

// multiplicity is how many bins of the full plane bin kx stands for.
func (s *spectrum) multiplicity(kx int) float64 {
	if kx == 0 || (s.gw%2 == 0 && kx == s.gw/2) {
		return 1
	}
	return 2
}

// dense returns f's weights on the full grid, for either representation.
func (f *filter) dense(s *spectrum) (even, odd []float64) {
	n := s.gw * s.gh
	even = make([]float64, n)
	if f.odd != nil {
		odd = make([]float64, n)
	}
	off := 0
	for _, fr := range f.rows {
		for q := range fr.n {
			if !f.spectral {
				even[fr.start+q] = float64(f.even[off+q])
				if odd != nil {
					odd[fr.start+q] = float64(f.odd[off+q])
				}
				continue
			}
			if q%2 == 1 {
				continue
			}
			// Bin (ky, kx) with weights (a, b) adds a cos(theta) - b sin(theta).
			bin := (fr.start + q) / 2
			ky, kx := bin/s.hw, bin%s.hw
			for y := range s.gh {
				cy, sy := s.cy[ky*s.gh+y], s.sy[ky*s.gh+y]
				for x := range s.gw {
					cx, sx := s.cx[kx*s.gw+x], s.sx[kx*s.gw+x]
					c, sn := cx*cy-sx*sy, sx*cy+cx*sy // cos and sin of the sum
					even[y*s.gw+x] += float64(f.even[off+q])*c - float64(f.even[off+q+1])*sn
					if odd != nil {
						odd[y*s.gw+x] += float64(f.odd[off+q])*c - float64(f.odd[off+q+1])*sn
					}
				}
			}
		}
		off += fr.n
	}
	return even, odd
}

// makeSpectral switches f to the frequency domain when that is cheaper:
// it keeps the fewest half-plane bins that hold spectralEnergy of the
// filter's energy (never the mean, bin 0), as weights on the frame's
// spectrum, rescaled so that the preferred full-contrast grating again
// gives a response of 1 at its best phase. The filter becomes the
// periodic, band-limited version of the spatial one.
func makeSpectral(f *filter, rf RF, s *spectrum) {
	if len(f.even) < minSpectralWeights {
		return // small enough in space
	}
	even, odd := f.dense(s)
	we := make([]float64, s.bins())
	s.transform(even, we)
	var wo []float64
	if odd != nil {
		wo = make([]float64, s.bins())
		s.transform(odd, wo)
	}
	type bin struct {
		at     int
		energy float64
	}
	var all []bin
	var total float64
	for ky := range s.gh {
		for kx := range s.hw {
			at := ky*s.hw + kx
			if at == 0 {
				continue
			}
			e := we[2*at]*we[2*at] + we[2*at+1]*we[2*at+1]
			if wo != nil {
				e += wo[2*at]*wo[2*at] + wo[2*at+1]*wo[2*at+1]
			}
			e *= s.multiplicity(kx)
			all = append(all, bin{at, e})
			total += e
		}
	}
	if total == 0 {
		return
	}
	slices.SortFunc(all, func(a, b bin) int {
		switch {
		case a.energy > b.energy:
			return -1
		case a.energy < b.energy:
			return 1
		}
		return a.at - b.at
	})
	var sum float64
	keep := 0
	for keep < len(all) && sum < spectralEnergy*total {
		sum += all[keep].energy
		keep++
	}
	if keep == 0 {
		return
	}
	// Per ky, one run of bins from the lowest kept kx to the highest: the
	// spectrum is stored interleaved (re, im), so a run is a contiguous
	// range of it and the filter applies like a spatial one.
	lo := make([]int, s.gh)
	hi := make([]int, s.gh)
	for ky := range s.gh {
		lo[ky], hi[ky] = s.hw, -1
	}
	for _, b := range all[:keep] {
		ky, kx := b.at/s.hw, b.at%s.hw
		lo[ky], hi[ky] = min(lo[ky], kx), max(hi[ky], kx)
	}
	cost := 0
	for ky := range s.gh {
		if hi[ky] >= lo[ky] {
			cost += 2 * (hi[ky] - lo[ky] + 1)
		}
	}
	if cost >= len(f.even)*4/5 {
		return // cheaper in space
	}
	n := float64(s.gw * s.gh)
	sf := filter{spectral: true}
	for ky := range s.gh {
		if hi[ky] < lo[ky] {
			continue
		}
		start := 2 * (ky*s.hw + lo[ky])
		sf.rows = append(sf.rows, filterRow{start: start, n: 2 * (hi[ky] - lo[ky] + 1)})
		for kx := lo[ky]; kx <= hi[ky]; kx++ {
			at := 2 * (ky*s.hw + kx)
			m := s.multiplicity(kx) / n
			if at == 0 {
				m = 0 // never the mean
			}
			sf.even = append(sf.even, float32(m*we[at]), float32(m*we[at+1]))
			if wo != nil {
				sf.odd = append(sf.odd, float32(m*wo[at]), float32(m*wo[at+1]))
			}
		}
	}
	// Renormalise against the preferred grating over the whole grid, in
	// the frequency domain: only the filter's bins are needed.
	gc, gs := gratings(rf, s.gw, s.gh)
	var used []int
	for _, fr := range sf.rows {
		for q := 0; q < fr.n; q += 2 {
			used = append(used, (fr.start+q)/2)
		}
	}
	sc, ss := make([]float64, s.bins()), make([]float64, s.bins())
	s.transformSome(gc, used, sc)
	s.transformSome(gs, used, ss)
	scale := func(w []float32) {
		var rc, rs float64
		off := 0
		for _, fr := range sf.rows {
			for q := range fr.n {
				rc += float64(w[off+q]) * sc[fr.start+q]
				rs += float64(w[off+q]) * ss[fr.start+q]
			}
			off += fr.n
		}
		k := 1 / math.Hypot(rc, rs)
		if math.IsInf(k, 0) || math.IsNaN(k) {
			k = 0
		}
		for i := range w {
			w[i] = float32(float64(w[i]) * k)
		}
	}
	scale(sf.even)
	if sf.odd != nil {
		scale(sf.odd)
	}
	*f = sf
}

// gratings returns rf's preferred full-contrast grating in cosine and sine
// phase on the whole gw x gh grid.
func gratings(rf RF, gw, gh int) (gc, gs []float64) {
	cx, cy := rf.X*float64(gw), rf.Y*float64(gh)
	rad := rf.OrientationDeg * math.Pi / 180
	cos, sin := math.Cos(rad), math.Sin(rad)
	freq := rf.CyclesPerWidth / float64(gw)
	phase := rf.PhaseDeg * math.Pi / 180
	gc, gs = make([]float64, gw*gh), make([]float64, gw*gh)
	for y := range gh {
		for x := range gw {
			dx := float64(x) + 0.5 - cx
			dy := cy - (float64(y) + 0.5)
			arg := 2*math.Pi*freq*(dx*cos+dy*sin) + phase
			gc[y*gw+x] = gratingAmplitude * math.Cos(arg)
			gs[y*gw+x] = gratingAmplitude * math.Sin(arg)
		}
	}
	return gc, gs
}
