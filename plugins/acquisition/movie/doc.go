// Package movie is twinrig's online two-photon processing pipeline: it
// takes raw 16-bit frames one at a time (from a recorded movie replayed at
// its frame rate, or from any other source) and emits, per frame, each
// ROI's dF/F and an estimate of its spiking activity.
//
// Per frame, [Pipeline.Process] runs:
//
//  1. rigid motion correction against a running template (package motion:
//     phase correlation, sub-pixel refinement, bilinear resampling);
//  2. ROI and neuropil fluorescence from masks (package traces), neuropil
//     subtraction Fc = F - 0.7 * F_neuropil;
//  3. a causal running maximin baseline F0 and dF/F = (Fc - F0) /
//     max(F0, floor) (package traces);
//  4. online AR(1) non-negative deconvolution of dF/F (package deconv),
//     whose estimate trails the newest frame by a fixed lag of
//     Config.Lag frames (0 = causal).
//
// Each result is a [Sample]: the frame's sequence number, its source
// timestamp, the host clock time at which it was produced, the shift, and
// per-ROI dF/F (for this frame) and activity (for frame Seq - Lag).
//
// [OpenTIFF] reads a ScanImage-style multi-page TIFF or BigTIFF page by page
// (package tiff) and [Replay] feeds any [Source] through a Pipeline at the
// source's own frame rate (or faster), calling back with every Sample.
//
// Not here yet: wiring as an acquisition plugin source, a TCP input for
// live microscopes, the ScanImage-side streaming example.
package movie
