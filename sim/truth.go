package sim

import "time"

// Truth is the ground truth behind one scan: what a perfect pipeline would
// recover. For every neuron i, the scan's value is
//
//	Calcium[i] + NeuropilCoef * Neuropil[i] + Drift[i] + noise
//
// where the noise is Gaussian with s.d. NoiseSD (times sqrt(F/F0) with
// ShotNoise), independent for every sample.
type Truth struct {
	// Index and Time are the scan's.
	Index int64
	Time  time.Duration
	// Behaviour is the behaviour at Time, in physical units.
	Behaviour BehaviourState
	// Rates is each neuron's firing rate (Hz) in the simulation step of its
	// sample.
	Rates []float32
	// Spikes counts each neuron's spikes since its sample in the previous
	// scan (saturating at 65535).
	Spikes []uint16
	// Calcium is each neuron's noise-free dF/F: SpikeAmplitude times the
	// indicator's response to the spikes.
	Calcium []float32
	// Neuropil is the neuropil dF/F of each neuron's plane at its sample
	// (the mean Calcium of the plane's neurons plus a fluctuation of s.d.
	// NeuropilSD), before NeuropilCoef: subtracting NeuropilCoef times it
	// removes the contamination.
	Neuropil []float32
	// Drift is each neuron's baseline drift, dF/F.
	Drift []float32
}

// Truth returns the ground truth of scan k of this session if it is among
// the latest Config.TruthHistory scans Scans returned, and false otherwise.
// The slices are shared with the mouse: do not modify them.
func (m *Mouse) Truth(k int64) (Truth, bool) {
	if len(m.truth) == 0 || k < 0 {
		return Truth{}, false
	}
	t := m.truth[k%int64(len(m.truth))]
	if t.Index != k {
		return Truth{}, false
	}
	return t, true
}
