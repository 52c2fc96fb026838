// Package deconv infers spiking activity from a fluorescence trace online,
// by non-negative deconvolution under an AR(1) calcium model (OASIS,
// Friedrich, Zhou & Paninski 2017), one sample at a time.
//
// # Model
//
// The trace y (dF/F, baseline already removed) is modelled as calcium c plus
// noise, with c[t] = gamma*c[t-1] + s[t] and s >= 0. The solver minimises
// 1/2 sum (c - y)^2 + Lambda * sum s subject to s >= 0, and with MinSpike > 0
// it only accepts a jump s[t] of at least MinSpike (OASIS's thresholded
// variant, which removes most noise-driven small events).
//
// # Online, with a bounded lag
//
// OASIS keeps the solution as a list of pools (runs of samples that decay
// with gamma from a common start value). Each new sample starts a pool; while
// a pool's start value is below the decayed end of the one before it (plus
// MinSpike), the two merge. Merging only reaches backwards, so the estimate
// for a sample can still change when later samples arrive. Push returns the
// activity for the sample Lag frames back (s[t-Lag] = c[t-Lag] -
// gamma*c[t-Lag-1], computed from the current pools), which is final for
// that frame: it is not revised later. Lag 0 gives the causal estimate for
// the newest sample. Pools that end more than Lag+1 samples back are
// frozen: they are folded into a fixed boundary value and never merged
// again, so memory and time per sample are bounded (amortised O(1)).
//
// A Deconvolver handles one trace; Bank runs many in lockstep. Neither is
// safe for concurrent use; neither allocates after construction.
package deconv
