package sim

import "fmt"

// lanes is how many frames the filter bank projects in one pass over its
// weights. A frame's outputs are the same sums in the same order whatever
// its lane and the frames sharing its pass (see projectEvenGo).
const lanes = 8

// vec holds one stimulus value (a grid cell or a spectrum value) of each
// of a pass's frames.
type vec [lanes]float32

// bank packs every neuron's receptive-field filter (see filter) into a few
// flat arrays, to project several frames per pass over the weights: the
// weights stream from memory once per pass, and each weight feeds lanes
// independent sums.
//
// A pass reads its frames from a []vec source holding the frames' grids
// (gridLen vecs) followed by their spectra (see spectrum; specLen vecs):
// runs index that source directly, spectral filters' runs past the grids.
type bank struct {
	gridLen, specLen int
	neurons          []bankNeuron // per neuron, plus an end marker
	runs             []bankRun
	even             []float32    // weights of the neurons with an even filter only
	pairs            [][2]float32 // (even, odd) weights of the others
}

// bankNeuron locates one neuron's runs and weights. Its runs end where the
// next neuron's begin; its weights start at w in even, or in pairs when
// odd is set.
type bankNeuron struct {
	run, w int32
	odd    bool
}

// bankRun is n consecutive source positions from start.
type bankRun struct{ start, n int32 }

// newBank packs filters for grids of gridLen cells with spectra of specLen
// values.
func newBank(filters []filter, gridLen, specLen int) *bank {
	b := &bank{gridLen: gridLen, specLen: specLen, neurons: make([]bankNeuron, 0, len(filters)+1)}
	for i := range filters {
		f := &filters[i]
		nb := bankNeuron{run: int32(len(b.runs)), odd: f.odd != nil, w: int32(len(b.even))}
		if nb.odd {
			nb.w = int32(len(b.pairs))
		}
		b.neurons = append(b.neurons, nb)
		offset := 0
		if f.spectral {
			offset = gridLen
		}
		weights := 0
		for _, fr := range f.rows {
			// The kernels do not check bounds: the runs must lie in the
			// source and the weights match them.
			if fr.start < 0 || fr.n < 0 || offset+fr.start+fr.n > b.sourceLen() {
				panic(fmt.Sprintf("sim: neuron %d's filter row %+v outside its source", i, fr))
			}
			b.runs = append(b.runs, bankRun{start: int32(offset + fr.start), n: int32(fr.n)})
			weights += fr.n
		}
		if len(f.even) != weights || (f.odd != nil && len(f.odd) != weights) {
			panic(fmt.Sprintf("sim: neuron %d's filter has %d even and %d odd weights for %d positions", i, len(f.even), len(f.odd), weights))
		}
		if !nb.odd {
			b.even = append(b.even, f.even...)
			continue
		}
		for k, e := range f.even {
			b.pairs = append(b.pairs, [2]float32{e, f.odd[k]})
		}
	}
	b.neurons = append(b.neurons, bankNeuron{run: int32(len(b.runs))})
	return b
}

// sourceLen is the length of a pass's source.
func (b *bank) sourceLen() int { return b.gridLen + b.specLen }

// project computes the filter outputs of neurons lo..hi-1 for a pass's
// frames: out[l][i] and out[l][n+i] receive neuron i's even and odd
// outputs (0 for a neuron without an odd filter) for the frame in lane l of
// src, for each lane l whose out is not nil. Lanes past the last used one
// may be skipped; the others are all computed, in the same order (see
// projectEvenGo), whichever kernel computes them.
func (b *bank) project(src []vec, lo, hi, n int, out *[lanes][]float32) {
	used := 0
	for l, dst := range out {
		if dst != nil {
			used = l + 1
		}
	}
	var e, o vec
	for i := lo; i < hi; i++ {
		nb, runs := b.neurons[i], b.runs[b.neurons[i].run:b.neurons[i+1].run]
		if nb.odd {
			projectPairs(src, runs, b.pairs[nb.w:], used, &e, &o)
		} else {
			projectEven(src, runs, b.even[nb.w:], used, &e)
			o = vec{}
		}
		for l, dst := range out[:used] {
			if dst != nil {
				dst[i], dst[n+i] = e[l], o[l]
			}
		}
	}
}

// projectEvenGo sets out to the sums, per lane, of w's weights times src's
// values at the runs' positions, in float32: one running sum per lane, in
// order across the runs' positions. It is the reference the faster kernels
// (projectEven) must match exactly: they add the same products in the same
// order, so a frame's outputs do not depend on its lane or on the frames
// sharing its pass.
func projectEvenGo(src []vec, runs []bankRun, w []float32, out *vec) {
	var a vec
	for _, r := range runs {
		s := src[r.start : r.start+r.n]
		ws := w[:len(s)]
		for k := range s {
			for l := range lanes {
				a[l] += ws[k] * s[k][l]
			}
		}
		w = w[len(s):]
	}
	*out = a
}

// projectPairsGo is projectEvenGo for the even and the odd weights of w.
func projectPairsGo(src []vec, runs []bankRun, w [][2]float32, even, odd *vec) {
	var e, o vec
	for _, r := range runs {
		s := src[r.start : r.start+r.n]
		ws := w[:len(s)]
		for k := range s {
			for l := range lanes {
				e[l] += ws[k][0] * s[k][l]
				o[l] += ws[k][1] * s[k][l]
			}
		}
		w = w[len(s):]
	}
	*even, *odd = e, o
}

// frameSource fills src (sourceLen vecs) with the grids in lanes 0..
// len(grids)-1, at most lanes of them, and their spectra computed with
// spec; unused lanes are zero. buf is scratch of spec.bins() values.
func (b *bank) frameSource(grids [][]float32, spec *spectrum, buf []float32, src []vec) {
	clear(src)
	for l, g := range grids {
		for p, v := range g[:b.gridLen] {
			src[p][l] = v
		}
		spec.transform32(g, buf)
		for p, v := range buf[:b.specLen] {
			src[b.gridLen+p][l] = v
		}
	}
}
