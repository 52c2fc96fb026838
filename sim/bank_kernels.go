package sim

// The kernels below compute what projectEvenGo and projectPairsGo do, with
// the same additions in the same order, written so that the compiler keeps
// the sums in registers: one local per lane, lanes unrolled by hand, at
// most 8 sums live at a time (amd64 has 15 float registers for Go code).
// Passes that use at most 4 lanes compute only lanes 0-3.

// projectEven sets out to neuron's even outputs for the first used lanes
// of src (see projectEvenGo); the other lanes may be left 0.
func projectEven(src []vec, runs []bankRun, w []float32, used int, out *vec) {
	var a0, a1, a2, a3, a4, a5, a6, a7 float32
	if used <= 4 {
		for _, r := range runs {
			s := src[r.start : r.start+r.n]
			ws := w[:len(s)]
			for k := range s {
				x, v := ws[k], &s[k]
				a0 += x * v[0]
				a1 += x * v[1]
				a2 += x * v[2]
				a3 += x * v[3]
			}
			w = w[len(s):]
		}
		*out = vec{a0, a1, a2, a3}
		return
	}
	for _, r := range runs {
		s := src[r.start : r.start+r.n]
		ws := w[:len(s)]
		for k := range s {
			x, v := ws[k], &s[k]
			a0 += x * v[0]
			a1 += x * v[1]
			a2 += x * v[2]
			a3 += x * v[3]
			a4 += x * v[4]
			a5 += x * v[5]
			a6 += x * v[6]
			a7 += x * v[7]
		}
		w = w[len(s):]
	}
	*out = vec{a0, a1, a2, a3, a4, a5, a6, a7}
}

// projectPairs is projectEven for the even and odd weights of pairs: lanes
// 0-3 in one sweep over the weights, then lanes 4-7 in another if used.
func projectPairs(src []vec, runs []bankRun, w [][2]float32, used int, even, odd *vec) {
	*even, *odd = vec{}, vec{}
	pairsLow(src, runs, w, even, odd)
	if used > 4 {
		pairsHigh(src, runs, w, even, odd)
	}
}

// pairsLow computes lanes 0-3 of projectPairs.
func pairsLow(src []vec, runs []bankRun, w [][2]float32, even, odd *vec) {
	var e0, e1, e2, e3, o0, o1, o2, o3 float32
	for _, r := range runs {
		s := src[r.start : r.start+r.n]
		ws := w[:len(s)]
		for k := range s {
			x, y, v := ws[k][0], ws[k][1], &s[k]
			e0 += x * v[0]
			o0 += y * v[0]
			e1 += x * v[1]
			o1 += y * v[1]
			e2 += x * v[2]
			o2 += y * v[2]
			e3 += x * v[3]
			o3 += y * v[3]
		}
		w = w[len(s):]
	}
	even[0], even[1], even[2], even[3] = e0, e1, e2, e3
	odd[0], odd[1], odd[2], odd[3] = o0, o1, o2, o3
}

// pairsHigh computes lanes 4-7 of projectPairs (pairsLow's twin).
func pairsHigh(src []vec, runs []bankRun, w [][2]float32, even, odd *vec) {
	var e4, e5, e6, e7, o4, o5, o6, o7 float32
	for _, r := range runs {
		s := src[r.start : r.start+r.n]
		ws := w[:len(s)]
		for k := range s {
			x, y, v := ws[k][0], ws[k][1], &s[k]
			e4 += x * v[4]
			o4 += y * v[4]
			e5 += x * v[5]
			o5 += y * v[5]
			e6 += x * v[6]
			o6 += y * v[6]
			e7 += x * v[7]
			o7 += y * v[7]
		}
		w = w[len(s):]
	}
	even[4], even[5], even[6], even[7] = e4, e5, e6, e7
	odd[4], odd[5], odd[6], odd[7] = o4, o5, o6, o7
}
