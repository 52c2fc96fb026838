// Package screen shows the stimulus plugin's frames on a real display with
// Ebiten (pure Go on Linux: no cgo). It is the thin, untestable-without-a-
// display part of the plugin: everything it draws is decided by
// present.Stage.Draw.
//
// Ebiten's RunGame must own the process's main thread, so a Screen splits
// in two: Run, called on the main goroutine, waits for a window request
// and then runs the Ebiten game there; Open, called from any goroutine
// (the plugin's Configure), asks Run for the window and waits for its
// first frame.
//
// Each Draw uploads the stage's current frame (gray after the gamma LUT,
// at stimulus resolution) to a texture, scales it over the whole screen
// with linear filtering (the stimulus is stretched to the screen's aspect
// ratio), and draws the photodiode patch. Vsync is on and Update runs
// once per frame (ebiten.SyncWithFPS). Ebiten reports no flip timestamp
// and no monitor refresh rate: frames are stamped with the time their
// Draw began, and the nominal refresh rate comes from the settings.
package screen
