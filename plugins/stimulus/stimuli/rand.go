package stimuli

import (
	"math"
	"math/rand/v2"
)

// Random numbers come from PCG streams keyed by the spec's seed and a
// stream number that the family derives from what the numbers are for (a
// dot and its life, a flash, a field). A frame's numbers therefore depend
// only on the seed and the frame index, never on what was rendered before.
// The draws are written out here rather than taken from rand.Rand so that
// the streams can never change with the Go release.

// stream returns the PCG stream of seed keyed by the given numbers.
func stream(seed uint64, key ...uint64) *rand.PCG {
	k := uint64(0x9e3779b97f4a7c15)
	for _, v := range key {
		k = mix(k ^ v)
	}
	return rand.NewPCG(seed, k)
}

// mix is the SplitMix64 finaliser: a bijection that scatters the bits of v.
func mix(v uint64) uint64 {
	v += 0x9e3779b97f4a7c15
	v = (v ^ v>>30) * 0xbf58476d1ce4e5b9
	v = (v ^ v>>27) * 0x94d049bb133111eb
	return v ^ v>>31
}

// uniform draws from [0, 1) with 53 random bits.
func uniform(src *rand.PCG) float64 {
	return float64(src.Uint64()>>11) * 0x1p-53
}

// normal draws a standard normal deviate (Box-Muller, one of the pair).
func normal(src *rand.PCG) float64 {
	u := 1 - uniform(src) // (0, 1]
	v := uniform(src)
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}
