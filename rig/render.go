package rig

import (
	"context"
	"errors"
	"fmt"
)

// Limits on one RenderRequest, so that its answer fits one message.
const (
	// MaxRenderSize bounds RenderRequest.Width and Height, in pixels.
	MaxRenderSize = 16384
	// MaxRenderItems bounds len(RenderRequest.Items).
	MaxRenderItems = 1 << 16
	// MaxRenderBytes bounds the pixels of one answer: the sum over items
	// of Frames * Width * Height. RenderAll splits larger requests.
	MaxRenderBytes = MaxMessageBytes / 2
)

// CheckRenderRequest reports, wrapping ErrInvalid, what makes req
// malformed: no items or too many, a size or rate out of range, a negative
// frame count, an empty spec, or an answer over MaxRenderBytes. Plugins
// call it first in Render.
func CheckRenderRequest(req RenderRequest) error {
	var errs []error
	if len(req.Items) == 0 || len(req.Items) > MaxRenderItems {
		errs = append(errs, fmt.Errorf("render: %d items, want 1 to %d", len(req.Items), MaxRenderItems))
	}
	if req.Width < 1 || req.Height < 1 || req.Width > MaxRenderSize || req.Height > MaxRenderSize {
		errs = append(errs, fmt.Errorf("render: size %dx%d, want 1 to %d pixels each way", req.Width, req.Height, MaxRenderSize))
	}
	if !(req.RateHz > 0) || req.RateHz > 1000 {
		errs = append(errs, fmt.Errorf("render: rate %g Hz, want above 0 and at most 1000", req.RateHz))
	}
	var bytes int64
	for i, it := range req.Items {
		if it.Frames < 0 {
			errs = append(errs, fmt.Errorf("render: item %d: frames %d, want 0 or more", i, it.Frames))
		}
		if len(it.Spec) == 0 {
			errs = append(errs, fmt.Errorf("render: item %d: no spec", i))
		}
		bytes += int64(max(it.Frames, 0)) * int64(max(req.Width, 0)) * int64(max(req.Height, 0))
	}
	if bytes > MaxRenderBytes {
		errs = append(errs, fmt.Errorf("render: %d bytes of frames, want at most %d per request (see RenderAll)", bytes, MaxRenderBytes))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", errors.Join(errs...), ErrInvalid)
	}
	return nil
}

// RenderAll renders every item of req with r, in as many Render calls as
// the answer's size needs (each at most MaxRenderBytes), and answers as
// one Render call would. An item too large for one call on its own is an
// error wrapping ErrInvalid.
func RenderAll(ctx context.Context, r Renderer, req RenderRequest) (RenderResponse, error) {
	out := RenderResponse{Items: make([][]Frame, 0, len(req.Items))}
	frameBytes := int64(max(req.Width, 0)) * int64(max(req.Height, 0))
	for start := 0; start < len(req.Items); {
		end, bytes := start, int64(0)
		for end < len(req.Items) && end-start < MaxRenderItems {
			b := int64(max(req.Items[end].Frames, 0)) * frameBytes
			if end > start && bytes+b > MaxRenderBytes {
				break
			}
			bytes += b
			end++
		}
		part := req
		part.Items = req.Items[start:end]
		resp, err := r.Render(ctx, part)
		if err != nil {
			return RenderResponse{}, fmt.Errorf("render items %d to %d: %w", start, end-1, err)
		}
		if len(resp.Items) != len(part.Items) {
			return RenderResponse{}, fmt.Errorf("render items %d to %d: %d answered: %w", start, end-1, len(resp.Items), ErrContract)
		}
		for i, frames := range resp.Items {
			it := part.Items[i]
			if len(frames) != it.Frames {
				return RenderResponse{}, fmt.Errorf("render item %d: %d frames answered, %d asked: %w", start+i, len(frames), it.Frames, ErrContract)
			}
			for k, f := range frames {
				if f.Width != req.Width || f.Height != req.Height || len(f.Pixels) != f.Width*f.Height {
					return RenderResponse{}, fmt.Errorf("render item %d frame %d: %dx%d with %d bytes, want %dx%d: %w",
						start+i, k, f.Width, f.Height, len(f.Pixels), req.Width, req.Height, ErrContract)
				}
			}
		}
		out.Items = append(out.Items, resp.Items...)
		start = end
	}
	return out, nil
}
