package rig

import (
	"context"
	"errors"
	"io"
)

// PredictStream is a pipelined sequence of Predict calls on one model:
// requests sent with Send are predicted in order, exactly as consecutive
// Predict calls would be, and Recv returns one response per request in the
// same order. Send may run ahead of Recv, so frames travel to a plugin
// while it computes earlier ones; the throughput is then that of the model,
// not of the round trip. Send and Recv may be called from two goroutines;
// neither from more than one. After CloseSend, Recv returns the remaining
// responses and then io.EOF. An error from either ends the stream.
type PredictStream interface {
	Send(PredictRequest) error
	Recv() (PredictResponse, error)
	CloseSend() error
}

// predictStreamer is implemented by models that stream natively (plugin
// clients).
type predictStreamer interface {
	openPredictStream(ctx context.Context) (PredictStream, error)
}

// OpenPredictStream opens a PredictStream on m. For a model plugin it is
// one gRPC stream (Model.PredictStream); for any other Model it calls
// Predict in order on a goroutine of its own. Cancelling ctx ends it.
func OpenPredictStream(ctx context.Context, m Model) (PredictStream, error) {
	if s, ok := m.(predictStreamer); ok {
		return s.openPredictStream(ctx)
	}
	ls := &localStream{reqs: make(chan PredictRequest, 4), resps: make(chan localResult, 4), done: make(chan struct{})}
	go ls.run(ctx, m)
	return ls, nil
}

// localStream runs a PredictStream over an in-process Model.
type localStream struct {
	reqs   chan PredictRequest
	resps  chan localResult
	done   chan struct{} // closed when run returns
	err    error         // why run returned early; read after resps closes
	closed bool
}

type localResult struct {
	resp PredictResponse
	err  error
}

func (l *localStream) run(ctx context.Context, m Model) {
	defer close(l.done)
	defer close(l.resps)
	for {
		var req PredictRequest
		select {
		case r, ok := <-l.reqs:
			if !ok {
				return
			}
			req = r
		case <-ctx.Done():
			l.err = ctx.Err()
			return
		}
		resp, err := m.Predict(ctx, req)
		select {
		case l.resps <- localResult{resp, err}:
		case <-ctx.Done():
			l.err = ctx.Err()
			return
		}
		if err != nil {
			return
		}
	}
}

var errSendAfterClose = errors.New("rig: Send after CloseSend")

func (l *localStream) Send(req PredictRequest) error {
	if l.closed {
		return errSendAfterClose
	}
	select {
	case l.reqs <- req:
		return nil
	case <-l.done:
		return errors.New("rig: the prediction stream has ended; Recv returns why")
	}
}

func (l *localStream) Recv() (PredictResponse, error) {
	r, ok := <-l.resps
	if !ok {
		if l.err != nil {
			return PredictResponse{}, l.err
		}
		return PredictResponse{}, io.EOF
	}
	return r.resp, r.err
}

func (l *localStream) CloseSend() error {
	if !l.closed {
		l.closed = true
		close(l.reqs)
	}
	return nil
}
