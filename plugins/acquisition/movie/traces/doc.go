// Package traces turns motion-corrected frames into per-ROI fluorescence
// traces online: ROI fluorescence from weighted masks, neuropil from an
// annulus around each ROI, neuropil subtraction, a running baseline and
// dF/F.
//
// # Mask file format
//
// Masks are a JSON document (the field names follow suite2p's stat.npy, so
// a few lines of Python export them from a suite2p run; the // notes below
// explain the fields and are not part of the format):
//
//	{
//	  "width": 512,            // frame width in pixels (required)
//	  "height": 512,           // frame height in pixels (required)
//	  "rois": [
//	    {
//	      "id": "cell0",       // optional label; default "roi<index>"
//	      "ypix": [10, 10, 11],// row of each pixel, 0-based from the top
//	      "xpix": [20, 21, 20],// column of each pixel, 0-based from the left
//	      "lam": [1, 0.5, 0.8] // optional weights (finite, >= 0, positive sum); default all 1
//	    }
//	  ]
//	}
//
// Every pixel must lie inside width x height and appear once per ROI; ROIs
// may overlap. Errors name the file, the ROI (index and id) and the field.
// suite2p's own stat.npy/iscell.npy are not read (stat.npy is a pickled
// object array).
//
// # Signals
//
// For ROI i with pixels p and weights w, on a frame I:
//
//	F_i          = sum_p w_p I_p / sum_p w_p
//	F_neuropil_i = mean of I over the ROI's neuropil pixels
//	Fc_i         = F_i - NeuropilCoef * F_neuropil_i   (NeuropilCoef 0.7 by default)
//
// The neuropil pixels of an ROI are the MinNeuropilPixels pixels nearest to
// it (Euclidean distance to its nearest pixel) that are farther than
// InnerGap pixels from it, within MaxNeuropilRadius, and not within
// InnerGap pixels of any ROI's pixel (so other cells and their rims are
// excluded). An ROI with no such pixel has F_neuropil = 0.
//
// The baseline F0 is a causal "maximin": Fc is smoothed by a running mean
// over SmoothFrames samples, then F0 = max over the last Window samples of
// (min over the Window samples before each). Until Window samples have
// arrived the windows hold all samples so far. dF/F = (Fc - F0) /
// max(F0, Floor). Each step costs O(1) amortised per ROI (monotonic
// queues) and allocates nothing.
package traces
