package stimuli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/twinrig/twinrig/rig"
)

// params decodes the fields of one spec and collects every problem found,
// so that a caller sees all of them at once.
type params struct {
	family string
	raw    map[string]json.RawMessage
	errs   []error
}

// errorf records one problem with the spec, wrapping rig.ErrInvalid.
func (p *params) errorf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("stimulus spec: "+format+": %w", append(args, rig.ErrInvalid)...))
}

// err returns every recorded problem joined, or nil.
func (p *params) err() error { return errors.Join(p.errs...) }

// value returns the raw JSON of field name, or nil when it is absent or null.
func (p *params) value(name string) json.RawMessage {
	v, ok := p.raw[name]
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil
	}
	return v
}

// float decodes a number field within [lo, hi], or returns def when absent.
func (p *params) float(name string, def, lo, hi float64) float64 {
	v := p.value(name)
	if v == nil {
		return def
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		p.errorf("field %q: %s is not a finite number", name, quote(v))
		return def
	}
	if !(f >= lo && f <= hi) {
		p.errorf("field %q: %s out of range [%s,%s]", name, fmtFloat(f), fmtFloat(lo), fmtFloat(hi))
		return def
	}
	return f
}

// int decodes an integer field within [lo, hi], or returns def when absent.
func (p *params) int(name string, def, lo, hi int) int {
	v := p.value(name)
	if v == nil {
		return def
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	if err != nil {
		p.errorf("field %q: %s is not an integer", name, quote(v))
		return def
	}
	if n < int64(lo) || n > int64(hi) {
		p.errorf("field %q: %d out of range [%d,%d]", name, n, lo, hi)
		return def
	}
	return int(n)
}

// seed decodes the "seed" field: any integer in the int64 or uint64 range,
// taken as its 64 bits. Absent means 0.
func (p *params) seed() uint64 {
	v := p.value("seed")
	if v == nil {
		return 0
	}
	s := string(bytes.TrimSpace(v))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return uint64(n)
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n
	}
	p.errorf("field %q: %s is not a 64-bit integer", "seed", quote(v))
	return 0
}

// floats decodes a list of 1..maxLen distinct numbers, each within [lo, hi],
// or returns def when absent.
func (p *params) floats(name string, def []float64, maxLen int, lo, hi float64) []float64 {
	v := p.value(name)
	if v == nil {
		return def
	}
	var fs []float64
	if err := json.Unmarshal(v, &fs); err != nil {
		p.errorf("field %q: %s is not a list of finite numbers", name, quote(v))
		return def
	}
	if len(fs) == 0 || len(fs) > maxLen {
		p.errorf("field %q: %d entries, want 1 to %d", name, len(fs), maxLen)
		return def
	}
	ok := true
	for i, f := range fs {
		if !(f >= lo && f <= hi) {
			p.errorf("field %q: entry %d: %s out of range [%s,%s]", name, i, fmtFloat(f), fmtFloat(lo), fmtFloat(hi))
			ok = false
		}
	}
	if !ok {
		return def
	}
	return fs
}

// parseSpec splits a spec into its family and fields and checks that every
// field is one the family knows.
func parseSpec(spec json.RawMessage) (*params, error) {
	p := &params{}
	if err := json.Unmarshal(spec, &p.raw); err != nil || p.raw == nil {
		return nil, fmt.Errorf("stimulus spec: %s is not a JSON object: %w", quote(spec), rig.ErrInvalid)
	}
	fam, ok := p.raw["family"]
	if !ok {
		return nil, fmt.Errorf("stimulus spec: field %q: missing, want one of %s: %w", "family", knownFamilies(), rig.ErrInvalid)
	}
	if err := json.Unmarshal(fam, &p.family); err != nil {
		return nil, fmt.Errorf("stimulus spec: field %q: %s is not a string, want one of %s: %w", "family", quote(fam), knownFamilies(), rig.ErrInvalid)
	}
	f := lookup(p.family)
	if f == nil {
		return nil, fmt.Errorf("stimulus spec: field %q: %q is not a known family, want one of %s: %w", "family", p.family, knownFamilies(), rig.ErrInvalid)
	}
	names := make([]string, 0, len(p.raw))
	for name := range p.raw {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name != "family" && name != "seed" && !slices.Contains(f.fields, name) {
			p.errorf("unknown field %q for family %q, want one of %s", name, p.family, strings.Join(append([]string{"family", "seed"}, f.fields...), ", "))
		}
	}
	return p, nil
}

// quote shortens raw JSON for an error message.
func quote(v []byte) string {
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

// fmtFloat formats f in its shortest exact form.
func fmtFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Sprint(f)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
