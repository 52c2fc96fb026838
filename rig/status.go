package rig

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// sentinelCodes maps the exported sentinel errors to gRPC codes, so that
// errors.Is works on the other side of the process boundary.
var sentinelCodes = []struct {
	err  error
	code codes.Code
}{
	{ErrInvalid, codes.InvalidArgument},
	{ErrContract, codes.FailedPrecondition},
	{ErrState, codes.Aborted},
	{ErrUnsupported, codes.Unimplemented},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

// toStatus turns a plugin's error into a gRPC status error.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, s := range sentinelCodes {
		if errors.Is(err, s.err) {
			return status.Error(s.code, err.Error())
		}
	}
	return status.Error(codes.Unknown, err.Error())
}

// remoteError is an error returned by a plugin, carried across gRPC.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// ErrUnavailable: the plugin process is gone or unreachable.
var ErrUnavailable = errors.New("plugin unavailable")

// fromStatus turns a gRPC error back into an error that wraps the matching
// sentinel. what names the call, e.g. "model.Predict".
func fromStatus(what string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var sentinel error
	for _, s := range sentinelCodes {
		if st.Code() == s.code {
			sentinel = s.err
		}
	}
	if st.Code() == codes.Unavailable {
		sentinel = ErrUnavailable
	}
	return &remoteError{msg: what + ": " + st.Message(), sentinel: sentinel}
}
