package sim

// projectEven sets out to neuron's even outputs for the first used lanes
// of src (see projectEvenGo); the other lanes may be left 0.
func projectEven(src []vec, runs []bankRun, w []float32, used int, out *vec) {
	projectEvenGo(src, runs, w, out)
}

// projectPairs is projectEven for the even and odd weights of pairs.
func projectPairs(src []vec, runs []bankRun, w [][2]float32, used int, even, odd *vec) {
	projectPairsGo(src, runs, w, even, odd)
}
