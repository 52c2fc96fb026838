package simacq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/sim"
)

// settingField is one settings field: its JSON name, the sim.Config field
// it sets (as sim.FieldError names it) and how to decode it.
type settingField struct {
	name     string
	simField string
	decode   func(raw json.RawMessage, cfg *sim.Config) error
}

// intField decodes a JSON integer into *dst.
func intField(dst func(*sim.Config) *int) func(json.RawMessage, *sim.Config) error {
	return func(raw json.RawMessage, cfg *sim.Config) error {
		return json.Unmarshal(raw, dst(cfg))
	}
}

// floatField decodes a JSON number into *dst.
func floatField(dst func(*sim.Config) *float64) func(json.RawMessage, *sim.Config) error {
	return func(raw json.RawMessage, cfg *sim.Config) error {
		return json.Unmarshal(raw, dst(cfg))
	}
}

// msField decodes a JSON number of milliseconds into *dst.
func msField(dst func(*sim.Config) *time.Duration) func(json.RawMessage, *sim.Config) error {
	return func(raw json.RawMessage, cfg *sim.Config) error {
		var ms float64
		if err := json.Unmarshal(raw, &ms); err != nil {
			return err
		}
		if math.Abs(ms) > 1e9 {
			return errors.New("want at most 1e9 ms in magnitude")
		}
		*dst(cfg) = time.Duration(math.Round(ms * 1e6))
		return nil
	}
}

// fields lists every setting, in the order they are documented and applied.
// "indicator" comes before the "indicator_*_ms" overrides.
var fields = []settingField{
	{"neurons", "Neurons", intField(func(c *sim.Config) *int { return &c.Neurons })},
	{"seed", "Seed", func(raw json.RawMessage, cfg *sim.Config) error { return json.Unmarshal(raw, &cfg.Seed) }},
	{"imaging_rate_hz", "ImagingRateHz", floatField(func(c *sim.Config) *float64 { return &c.ImagingRateHz })},
	{"steps_per_scan", "StepsPerScan", intField(func(c *sim.Config) *int { return &c.StepsPerScan })},
	{"indicator", "Indicator", func(raw json.RawMessage, cfg *sim.Config) error {
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			return err
		}
		ind, err := sim.IndicatorPreset(name)
		if err != nil {
			return fmt.Errorf("want one of %s", strings.Join(sim.IndicatorNames(), ", "))
		}
		cfg.Indicator = ind
		return nil
	}},
	{"indicator_rise_ms", "Indicator.Rise", msField(func(c *sim.Config) *time.Duration { return &c.Indicator.Rise })},
	{"indicator_decay_ms", "Indicator.Decay", msField(func(c *sim.Config) *time.Duration { return &c.Indicator.Decay })},
	{"spike_amplitude", "SpikeAmplitude", floatField(func(c *sim.Config) *float64 { return &c.SpikeAmplitude })},
	{"noise_sd", "NoiseSD", floatField(func(c *sim.Config) *float64 { return &c.NoiseSD })},
	{"baseline_rate_hz", "BaselineRateHz", floatField(func(c *sim.Config) *float64 { return &c.BaselineRateHz })},
	{"driven_rate_hz", "DrivenRateHz", floatField(func(c *sim.Config) *float64 { return &c.DrivenRateHz })},
	{"max_rate_hz", "MaxRateHz", floatField(func(c *sim.Config) *float64 { return &c.MaxRateHz })},
	{"complex_fraction", "ComplexFraction", floatField(func(c *sim.Config) *float64 { return &c.ComplexFraction })},
	{"integration_tau_ms", "IntegrationTau", msField(func(c *sim.Config) *time.Duration { return &c.IntegrationTau })},
	{"grid_width", "GridWidth", intField(func(c *sim.Config) *int { return &c.GridWidth })},
	{"grid_height", "GridHeight", intField(func(c *sim.Config) *int { return &c.GridHeight })},
	{"ds_fraction", "DSFraction", floatField(func(c *sim.Config) *float64 { return &c.DSFraction })},
	{"planes", "Planes", intField(func(c *sim.Config) *int { return &c.Planes })},
	{"run_bout_ms", "Behaviour.RunBout", msField(func(c *sim.Config) *time.Duration { return &c.Behaviour.RunBout })},
	{"still_bout_ms", "Behaviour.StillBout", msField(func(c *sim.Config) *time.Duration { return &c.Behaviour.StillBout })},
	{"run_speed_cm_s", "Behaviour.RunSpeed", floatField(func(c *sim.Config) *float64 { return &c.Behaviour.RunSpeed })},
	{"running_gain", "Behaviour.RunningGain", floatField(func(c *sim.Config) *float64 { return &c.Behaviour.RunningGain })},
	{"pupil_gain", "Behaviour.PupilGain", floatField(func(c *sim.Config) *float64 { return &c.Behaviour.PupilGain })},
	{"refractory_ms", "RefractoryPeriod", msField(func(c *sim.Config) *time.Duration { return &c.RefractoryPeriod })},
	{"gain_noise_sd", "GainNoiseSD", floatField(func(c *sim.Config) *float64 { return &c.GainNoiseSD })},
	{"gain_noise_tau_ms", "GainNoiseTau", msField(func(c *sim.Config) *time.Duration { return &c.GainNoiseTau })},
	{"neuropil_coef", "NeuropilCoef", floatField(func(c *sim.Config) *float64 { return &c.NeuropilCoef })},
	{"neuropil_sd", "NeuropilSD", floatField(func(c *sim.Config) *float64 { return &c.NeuropilSD })},
	{"neuropil_tau_ms", "NeuropilTau", msField(func(c *sim.Config) *time.Duration { return &c.NeuropilTau })},
	{"drift_sd", "DriftSD", floatField(func(c *sim.Config) *float64 { return &c.DriftSD })},
	{"drift_tau_ms", "DriftTau", msField(func(c *sim.Config) *time.Duration { return &c.DriftTau })},
	{"workers", "Workers", intField(func(c *sim.Config) *int { return &c.Workers })},
	{"shot_noise", "ShotNoise", func(raw json.RawMessage, cfg *sim.Config) error { return json.Unmarshal(raw, &cfg.ShotNoise) }},
}

// fieldNames lists the JSON names for error messages.
func fieldNames() string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// ParseSettings decodes settings (a JSON object, or empty or null for all
// defaults) into a sim.Config, starting from sim.DefaultConfig. Every error
// wraps rig.ErrInvalid and names the settings field; all problems are
// reported together.
func ParseSettings(settings json.RawMessage) (sim.Config, error) {
	cfg := sim.DefaultConfig()
	trimmed := bytes.TrimSpace(settings)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return cfg, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return cfg, fmt.Errorf("acquisition settings: not a JSON object (%v): %w", err, rig.ErrInvalid)
	}
	var errs []error
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.ContainsFunc(fields, func(f settingField) bool { return f.name == name }) {
			errs = append(errs, fmt.Errorf("acquisition settings: unknown field %q, want one of %s: %w", name, fieldNames(), rig.ErrInvalid))
		}
	}
	for _, f := range fields {
		v, ok := raw[f.name]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		if err := f.decode(v, &cfg); err != nil {
			errs = append(errs, fmt.Errorf("acquisition settings: field %q: %s: %s: %w", f.name, shorten(v), describe(err), rig.ErrInvalid))
		}
	}
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	if err := cfg.Validate(); err != nil {
		for _, fe := range sim.FieldErrors(err) {
			errs = append(errs, fmt.Errorf("acquisition settings: field %q: %v, want %s: %w", jsonName(fe.Field), fe.Value, fe.Want, rig.ErrInvalid))
		}
		return cfg, errors.Join(errs...)
	}
	return cfg, nil
}

// jsonName maps a sim.Config field to its settings name.
func jsonName(simField string) string {
	for _, f := range fields {
		if f.simField == simField {
			return f.name
		}
	}
	return simField
}

// describe turns a decoding error into the expectation it broke.
func describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		switch te.Type.Kind() {
		case reflect.Int:
			return "want an integer"
		case reflect.Uint64:
			return "want a non-negative 64-bit integer"
		case reflect.Float64:
			return "want a number"
		case reflect.String:
			return "want a string"
		case reflect.Bool:
			return "want true or false"
		}
		return "want a JSON " + te.Type.String()
	}
	return err.Error()
}

// shorten quotes raw JSON for a message, cut to a readable length.
func shorten(v []byte) string {
	s := strings.TrimSpace(string(v))
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}
