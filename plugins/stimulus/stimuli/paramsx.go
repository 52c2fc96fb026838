package stimuli

import (
	"encoding/json"
	"slices"
	"strings"
)

// str decodes a string field that must be one of allowed, or returns def
// when absent.
func (p *params) str(name, def string, allowed ...string) string {
	v := p.value(name)
	if v == nil {
		return def
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		p.errorf("field %q: %s is not a string, want one of %s", name, quote(v), strings.Join(allowed, ", "))
		return def
	}
	if len(allowed) > 0 && !slices.Contains(allowed, s) {
		p.errorf("field %q: %q is not one of %s", name, s, strings.Join(allowed, ", "))
		return def
	}
	return s
}

// path decodes a non-empty string field naming a file, or returns "" when
// absent.
func (p *params) path(name string) string {
	v := p.value(name)
	if v == nil {
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil || s == "" {
		p.errorf("field %q: %s is not a non-empty string, want a file path", name, quote(v))
		return ""
	}
	return s
}

// strs decodes a list of 1..maxLen non-empty strings, or returns nil when
// absent.
func (p *params) strs(name string, maxLen int) []string {
	v := p.value(name)
	if v == nil {
		return nil
	}
	var ss []string
	if err := json.Unmarshal(v, &ss); err != nil {
		p.errorf("field %q: %s is not a list of strings", name, quote(v))
		return nil
	}
	if len(ss) == 0 || len(ss) > maxLen {
		p.errorf("field %q: %d entries, want 1 to %d", name, len(ss), maxLen)
		return nil
	}
	for i, s := range ss {
		if s == "" {
			p.errorf("field %q: entry %d is empty, want a file path", name, i)
			return nil
		}
	}
	return ss
}

// points decodes a list of 1..maxLen [x, y] pairs, each coordinate within
// [lo, hi], or returns def when absent.
func (p *params) points(name string, def [][2]float64, maxLen int, lo, hi float64) [][2]float64 {
	v := p.value(name)
	if v == nil {
		return def
	}
	var ps [][]float64
	if err := json.Unmarshal(v, &ps); err != nil {
		p.errorf("field %q: %s is not a list of [x, y] pairs of finite numbers", name, quote(v))
		return def
	}
	if len(ps) == 0 || len(ps) > maxLen {
		p.errorf("field %q: %d entries, want 1 to %d", name, len(ps), maxLen)
		return def
	}
	out := make([][2]float64, len(ps))
	ok := true
	for i, pt := range ps {
		if len(pt) != 2 {
			p.errorf("field %q: entry %d has %d numbers, want an [x, y] pair", name, i, len(pt))
			ok = false
			continue
		}
		for k, f := range pt {
			if !(f >= lo && f <= hi) {
				p.errorf("field %q: entry %d: %s out of range [%s,%s]", name, i, fmtFloat(f), fmtFloat(lo), fmtFloat(hi))
				ok = false
			}
			out[i][k] = f
		}
	}
	if !ok {
		return def
	}
	return out
}
