package present

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/rig"
)

// DisplayMode says where frames go.
type DisplayMode string

// The display modes of the "display" setting.
const (
	// DisplayAuto opens a window when DISPLAY or WAYLAND_DISPLAY is set, and
	// runs headless otherwise.
	DisplayAuto DisplayMode = "auto"
	// DisplayWindow shows frames in a window.
	DisplayWindow DisplayMode = "window"
	// DisplayFullscreen shows frames full screen on the chosen monitor.
	DisplayFullscreen DisplayMode = "fullscreen"
	// DisplayHeadless renders frames without showing them.
	DisplayHeadless DisplayMode = "headless"
)

var displayModes = []DisplayMode{DisplayAuto, DisplayWindow, DisplayFullscreen, DisplayHeadless}

// Defaults of the settings.
const (
	// DefaultWidth and DefaultHeight are the window size in pixels (16:9,
	// like the model's 256 x 144 input).
	DefaultWidth, DefaultHeight = 1024, 576
	// DefaultHeadlessRateHz is the headless frame rate: the foundation
	// model's 30 Hz, so that every frame is a model frame.
	DefaultHeadlessRateHz = 30.0
	// DefaultDisplayRateHz is the refresh rate assumed for a screen when
	// "refresh_hz" is not set: Ebiten does not report a monitor's refresh
	// rate, so the nominal rate must come from the settings.
	DefaultDisplayRateHz = 60.0
	// DefaultPatchSize is the photodiode patch's side in screen pixels.
	DefaultPatchSize = 40
	// MaxWindowSize bounds "width" and "height".
	MaxWindowSize = 16384
	// MaxPatchSize bounds "photodiode.size_px".
	MaxPatchSize = 4096
	// MaxMonitor bounds "monitor".
	MaxMonitor = 63
)

// Settings are the stimulus plugin's settings, decoded from the rig
// config by ParseSettings. The JSON form, with the defaults:
//
//	{
//	  "display": "auto",      // "auto" | "window" | "fullscreen" | "headless"
//	  "monitor": 0,           // monitor index (window placement, fullscreen)
//	  "width": 1024,          // window size in pixels
//	  "height": 576,
//	  "refresh_hz": 30,       // headless: the frame rate (default 30);
//	                          // screen: the monitor's nominal refresh rate,
//	                          // which Ebiten cannot query (default 60)
//	  "gamma_lut": "",        // optional calibration file: a JSON list of
//	                          // 256 output levels (see ParseLUT)
//	  "photodiode": {
//	    "corner": "top-left", // "top-left" | "top-right" | "bottom-left" |
//	                          // "bottom-right" | "none"
//	    "size_px": 40,
//	    "mode": "parity"      // "parity" | "onset"
//	  }
//	}
type Settings struct {
	Display DisplayMode
	Monitor int
	// Width and Height are the window size (fullscreen uses the monitor's).
	Width, Height int
	// RefreshHz is the frame rate; 0 means the mode's default
	// (DefaultHeadlessRateHz or DefaultDisplayRateHz), see RateHz.
	RefreshHz float64
	// GammaLUT is the path of a calibration file, "" for none. A relative
	// path is resolved against the plugin's working directory.
	GammaLUT   string
	Photodiode Photodiode
}

// DefaultSettings returns the settings of an empty settings object.
func DefaultSettings() Settings {
	return Settings{
		Display: DisplayAuto,
		Width:   DefaultWidth,
		Height:  DefaultHeight,
		Photodiode: Photodiode{
			Corner: CornerTopLeft,
			SizePx: DefaultPatchSize,
			Mode:   PatchParity,
		},
	}
}

// RateHz returns the frame rate for frames shown headless (onScreen false)
// or on a screen: RefreshHz when set, the mode's default otherwise.
func (s Settings) RateHz(onScreen bool) float64 {
	switch {
	case s.RefreshHz > 0:
		return s.RefreshHz
	case onScreen:
		return DefaultDisplayRateHz
	}
	return DefaultHeadlessRateHz
}

// jsonSpace is the white space JSON allows between tokens.
const jsonSpace = " \t\r\n"

// ParseSettings decodes the plugin's settings, a JSON object whose fields
// are all optional (empty input and null mean all defaults). It checks
// every field and reports every problem at once (errors.Join), each error
// naming the field and wrapping rig.ErrInvalid; an unknown field is an
// error. It does not read the gamma LUT file (see LoadLUT).
func ParseSettings(data []byte) (Settings, error) {
	s := DefaultSettings()
	trimmed := bytes.Trim(data, jsonSpace)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return s, nil
	}
	d := decoder{}
	fields, ok := d.object("", data)
	if !ok {
		return s, d.err()
	}
	for _, name := range sortedKeys(fields) {
		v := fields[name]
		switch name {
		case "display":
			if m, ok := enumOf(&d, name, v, displayModes); ok {
				s.Display = m
			}
		case "monitor":
			s.Monitor = d.int(name, v, s.Monitor, 0, MaxMonitor)
		case "width":
			s.Width = d.int(name, v, s.Width, 1, MaxWindowSize)
		case "height":
			s.Height = d.int(name, v, s.Height, 1, MaxWindowSize)
		case "refresh_hz":
			s.RefreshHz = d.float(name, v, s.RefreshHz, stimuli.MaxRateHz)
		case "gamma_lut":
			s.GammaLUT = d.string(name, v, s.GammaLUT)
		case "photodiode":
			d.photodiode(v, &s.Photodiode)
		default:
			d.errorf(name, "unknown field, want one of display, monitor, width, height, refresh_hz, gamma_lut, photodiode")
		}
	}
	return s, d.err()
}

// photodiode decodes the "photodiode" object into p.
func (d *decoder) photodiode(v json.RawMessage, p *Photodiode) {
	fields, ok := d.object("photodiode", v)
	if !ok {
		return
	}
	for _, name := range sortedKeys(fields) {
		v := fields[name]
		field := "photodiode." + name
		switch name {
		case "corner":
			if c, ok := enumOf(d, field, v, corners); ok {
				p.Corner = c
			}
		case "size_px":
			p.SizePx = d.int(field, v, p.SizePx, 1, MaxPatchSize)
		case "mode":
			if m, ok := enumOf(d, field, v, patchModes); ok {
				p.Mode = m
			}
		default:
			d.errorf(field, "unknown field, want one of corner, size_px, mode")
		}
	}
}

// decoder decodes settings fields and collects every problem.
type decoder struct{ errs []error }

func (d *decoder) errorf(field, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("settings: field %q: %s: %w", field, fmt.Sprintf(format, args...), rig.ErrInvalid))
}

func (d *decoder) err() error { return errors.Join(d.errs...) }

// object decodes v as a JSON object; field "" is the whole settings.
func (d *decoder) object(field string, v json.RawMessage) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil || m == nil {
		if field == "" {
			d.errs = append(d.errs, fmt.Errorf("settings: %s is not a JSON object: %w", short(v), rig.ErrInvalid))
		} else {
			d.errorf(field, "%s is not a JSON object", short(v))
		}
		return nil, false
	}
	return m, true
}

func (d *decoder) int(field string, v json.RawMessage, def, lo, hi int) int {
	n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	if err != nil {
		d.errorf(field, "%s is not an integer", short(v))
		return def
	}
	if n < int64(lo) || n > int64(hi) {
		d.errorf(field, "%d is out of range [%d,%d]", n, lo, hi)
		return def
	}
	return int(n)
}

// float decodes a number in (0, hi].
func (d *decoder) float(field string, v json.RawMessage, def, hi float64) float64 {
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		d.errorf(field, "%s is not a number", short(v))
		return def
	}
	if !(f > 0 && f <= hi) {
		d.errorf(field, "%g is out of range (0,%g]", f, hi)
		return def
	}
	return f
}

func (d *decoder) string(field string, v json.RawMessage, def string) string {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		d.errorf(field, "%s is not a string", short(v))
		return def
	}
	return s
}

// enumOf decodes a string that must be one of allowed.
func enumOf[T ~string](d *decoder, field string, v json.RawMessage, allowed []T) (T, bool) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil || !slices.Contains(allowed, T(s)) {
		names := make([]string, len(allowed))
		for i, a := range allowed {
			names[i] = string(a)
		}
		d.errorf(field, "%s is not one of %s", short(v), strings.Join(names, ", "))
		return "", false
	}
	return T(s), true
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// short shortens raw JSON for an error message.
func short(v []byte) string {
	s := strings.TrimSpace(string(v))
	const max = 40
	if len(s) > max {
		s = s[:max] + "..."
	}
	if s == "" {
		return "empty input"
	}
	return s
}
