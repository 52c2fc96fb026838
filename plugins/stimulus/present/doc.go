// Package present is the display-independent core of the twinrig stimulus
// plugin: its settings, the gamma lookup table, the photodiode patch, drop
// detection, headless presentation on the virtual or the real clock, and
// the Stage that hands frames to a display's draw loop and turns its draws
// into rig.ShownFrame reports.
//
// The package does not import Ebiten. A real screen is reached through the
// Screen interface, which package screen implements; everything a screen
// decides per refresh (which frame, which gray, where the photodiode patch
// goes and how bright it is) is computed here by Stage.Draw, so it can be
// tested without a window.
//
// # Timing
//
// The frame index is the only notion of time inside a block: frame i of a
// block is rendered by stimuli.Sequence.Render(i). Each frame is reported
// once, in order, with the time it was shown:
//
//   - headless on rig.VirtualClock: req.Start + i/rate exactly, as fast as
//     the machine renders, never sleeping;
//   - headless on rig.RealClock: frames take consecutive slots of a
//     simulated refresh grid that starts when Present starts; a frame whose
//     slot has passed takes the next free one, as on a real display. The
//     time is the wall-clock time it was released, since req.Epoch;
//   - on a screen: the time at the start of the Draw that showed it, since
//     req.Epoch (Ebiten exposes no flip timestamp: the frame reaches the
//     glass at a later vsync, which only a photodiode can measure). One
//     frame per refresh at the configured rate; a screen that draws faster
//     (a faster monitor, or no vsync as under Xvfb) holds each frame for at
//     least HoldLimit. On rig.VirtualClock a screen still shows the frames
//     in real time but stamps them like headless.
//
// On the real clock a frame shown more than 1.5 refresh periods after its
// predecessor is Dropped (see DropDetector).
package present
