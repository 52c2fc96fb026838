// Package synth makes simulated two-photon data for the movie packages'
// tests and benchmarks: a field of Gaussian somas on a textured background
// that can be rendered at any sub-pixel offset, shot noise, and AR(1)
// calcium traces driven by sparse Poisson spikes.
package synth
