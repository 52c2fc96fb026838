package rig

import (
	"time"

	"github.com/twinrig/twinrig/rig/internal/wire"
)

func frameToWire(f Frame) *wire.Frame {
	return &wire.Frame{Width: int32(f.Width), Height: int32(f.Height), Pixels: f.Pixels}
}

func frameFromWire(f *wire.Frame) Frame {
	if f == nil {
		return Frame{}
	}
	return Frame{Width: int(f.GetWidth()), Height: int(f.GetHeight()), Pixels: f.GetPixels()}
}

func behaviourToWire(b Behaviour) *wire.Behaviour {
	return &wire.Behaviour{PupilX: b.PupilX, PupilY: b.PupilY, PupilRadius: b.PupilRadius, Treadmill: b.Treadmill}
}

func behaviourFromWire(b *wire.Behaviour) Behaviour {
	if b == nil {
		return Behaviour{}
	}
	return Behaviour{PupilX: b.GetPupilX(), PupilY: b.GetPupilY(), PupilRadius: b.GetPupilRadius(), Treadmill: b.GetTreadmill()}
}

func shownToWire(s ShownFrame) *wire.ShownFrame {
	return &wire.ShownFrame{Index: s.Index, TimeNs: int64(s.Time), Frame: frameToWire(s.Frame), Dropped: s.Dropped}
}

func shownFromWire(s *wire.ShownFrame) ShownFrame {
	return ShownFrame{Index: s.GetIndex(), Time: time.Duration(s.GetTimeNs()), Frame: frameFromWire(s.GetFrame()), Dropped: s.GetDropped()}
}

func clockToWire(c Clock) wire.Clock {
	if c == RealClock {
		return wire.Clock_CLOCK_REAL
	}
	return wire.Clock_CLOCK_VIRTUAL
}

func clockFromWire(c wire.Clock) Clock {
	if c == wire.Clock_CLOCK_REAL {
		return RealClock
	}
	return VirtualClock
}

func epochToWire(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func epochFromWire(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func scanToWire(s Scan) *wire.Scan {
	return &wire.Scan{Index: s.Index, TimeNs: int64(s.Time), Values: s.Values, Behaviour: behaviourToWire(s.Behaviour),
		SourceTimeNs: int64(s.SourceTime), HostTimeUnixNs: epochToWire(s.HostTime)}
}

func scanFromWire(s *wire.Scan) Scan {
	return Scan{Index: s.GetIndex(), Time: time.Duration(s.GetTimeNs()), Values: s.GetValues(), Behaviour: behaviourFromWire(s.GetBehaviour()),
		SourceTime: time.Duration(s.GetSourceTimeNs()), HostTime: epochFromWire(s.GetHostTimeUnixNs())}
}

func durationFromNs(ns int64) time.Duration { return time.Duration(ns) }

func framesToWire(fs []Frame) []*wire.Frame {
	out := make([]*wire.Frame, len(fs))
	for i, f := range fs {
		out[i] = frameToWire(f)
	}
	return out
}

func framesFromWire(fs []*wire.Frame) []Frame {
	out := make([]Frame, len(fs))
	for i, f := range fs {
		out[i] = frameFromWire(f)
	}
	return out
}

func sequenceToWire(s *FrameSequence) *wire.FrameSequence {
	if s == nil {
		return nil
	}
	return &wire.FrameSequence{Frames: framesToWire(s.Frames), RateHz: s.RateHz}
}

func sequenceFromWire(s *wire.FrameSequence) *FrameSequence {
	if s == nil {
		return nil
	}
	return &FrameSequence{Frames: framesFromWire(s.GetFrames()), RateHz: s.GetRateHz()}
}
