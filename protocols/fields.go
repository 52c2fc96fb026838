package protocols

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/twinrig/twinrig/internal/yamldoc"
)

// extensionPrefix starts the top-level keys that are ignored: a place to
// define anchors that the blocks refer to.
const extensionPrefix = "x-"

// decoder reads the fields of a version 2 file with the schema's helpers,
// on top of the YAML decoder every twinrig file shares.
type decoder struct {
	*yamldoc.Decoder
}

func newDecoder(file string, data []byte, doc *ast.DocumentNode) *decoder {
	return &decoder{yamldoc.NewDecoder(file, data, doc)}
}

// err returns the problems found, sorted by position, joined; or nil.
func (d *decoder) err() error {
	return joinProblems(d.Problems())
}

// joinProblems joins problems as *Problem; nil when there are none.
func joinProblems(problems []*yamldoc.Problem) error {
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// object is a mapping of the schema with its keys checked.
type object struct {
	field string
	at    yamldoc.Pos // where its key is written: the place to report missing fields
	bad   bool        // absent, null or not a mapping: report nothing missing in it
	vals  map[string]yamldoc.Entry
}

// object reads n (nil when absent) as a mapping that may hold only keys,
// reporting every other key. what names the mapping in messages.
func (d *decoder) object(n ast.Node, field string, at yamldoc.Pos, what string, keys ...string) *object {
	o := &object{field: field, at: at, vals: map[string]yamldoc.Entry{}}
	r, _ := d.Resolve(n, field)
	switch m := r.(type) {
	case nil:
		o.bad = true
	case *ast.NullNode:
		o.bad = true
		d.Addf(yamldoc.PosOf(n), field, "empty; want a mapping for %s", what)
	case *ast.MappingNode:
		for _, e := range d.Entries(m, field) {
			if field == "" && strings.HasPrefix(e.Key, extensionPrefix) {
				continue // a place for anchors
			}
			if !slices.Contains(keys, e.Key) {
				d.Addf(e.At, yamldoc.Join(field, e.Key), "unknown key; want one of %s", strings.Join(keys, ", "))
				continue
			}
			o.vals[e.Key] = e
		}
	default:
		o.bad = true
		d.Addf(yamldoc.PosOf(r), field, "got %s; want a mapping for %s", yamldoc.Describe(r), what)
	}
	return o
}

// has reports whether key is written, with a value or not.
func (o *object) has(key string) bool {
	_, ok := o.vals[key]
	return ok
}

// isNull reports whether key is written with no value (or null, or an
// alias of null).
func (d *decoder) isNull(o *object, key string) bool {
	e, ok := o.vals[key]
	if !ok {
		return false
	}
	r, isStr := d.Resolve(e.Value, yamldoc.Join(o.field, key))
	_, null := r.(*ast.NullNode)
	return null && !isStr
}

// given reports whether key is written with a value: a required key
// written with none is missing.
func (d *decoder) given(o *object, key string) bool {
	return o.has(key) && !d.isNull(o, key)
}

// keyPos returns where key is written, or where the object is when absent.
func (o *object) keyPos(key string) yamldoc.Pos {
	if e, ok := o.vals[key]; ok {
		return e.At
	}
	return o.at
}

// valuePos returns where the value of key is written, or where the object
// is when key is absent.
func (o *object) valuePos(key string) yamldoc.Pos {
	if e, ok := o.vals[key]; ok {
		return e.ValuePos()
	}
	return o.at
}

// scalar returns the resolved value of key with its position; ok is false
// when the key is absent, null, or unresolvable (already reported).
func (d *decoder) scalar(o *object, key string) (n ast.Node, isStr bool, at yamldoc.Pos, ok bool) {
	e, found := o.vals[key]
	if !found {
		return nil, false, o.at, false
	}
	at = e.ValuePos()
	r, isStr := d.Resolve(e.Value, yamldoc.Join(o.field, key))
	if r == nil {
		return nil, false, at, false
	}
	if _, null := r.(*ast.NullNode); null && !isStr {
		return nil, false, at, false
	}
	return r, isStr, at, true
}

// str reads a string field; present says whether it holds one.
func (d *decoder) str(o *object, key, what string) (s string, at yamldoc.Pos, present bool) {
	r, isStr, at, ok := d.scalar(o, key)
	if !ok {
		return "", at, false
	}
	s, ok = yamldoc.Text(r, isStr, false)
	if !ok {
		d.Addf(at, yamldoc.Join(o.field, key), "got %s; want %s", yamldoc.Describe(r), what)
		return "", at, false
	}
	return s, at, true
}

// integer reads an integer field within [lo, hi], or def when absent.
func (d *decoder) integer(o *object, key string, def, lo, hi int) int {
	r, _, at, ok := d.scalar(o, key)
	if !ok {
		return def
	}
	field := yamldoc.Join(o.field, key)
	v, isInt := yamldoc.Int(r)
	switch {
	case !isInt:
		d.Addf(at, field, "got %s; want an integer from %d to %d", yamldoc.Describe(r), lo, hi)
		return def
	case v < int64(lo) || v > int64(hi):
		d.Addf(at, field, "%s out of range: want %d to %d", r.GetToken().Value, lo, hi)
		return def
	}
	return int(v)
}

// seed reads a seed: an integer from 0 to 2^64-1, 0 when absent.
func (d *decoder) seed(o *object, key string) uint64 {
	r, _, at, ok := d.scalar(o, key)
	if !ok {
		return 0
	}
	if i, isInt := r.(*ast.IntegerNode); isInt {
		switch v := i.Value.(type) {
		case uint64:
			return v
		case int64:
			if v >= 0 {
				return uint64(v)
			}
		}
	}
	d.Addf(at, yamldoc.Join(o.field, key), "got %s; want a seed, an integer from 0 to 2^64-1", yamldoc.Describe(r))
	return 0
}

// interval is a range of numbers, each end open or closed.
type interval struct {
	lo, hi         float64
	openLo, openHi bool
}

// contains reports whether v lies in the interval.
func (in interval) contains(v float64) bool {
	return (v > in.lo || (!in.openLo && v == in.lo)) && (v < in.hi || (!in.openHi && v == in.hi))
}

// String writes the interval as [lo, hi], (lo, hi], [lo, hi) or (lo, hi).
func (in interval) String() string {
	l, r := "[", "]"
	if in.openLo {
		l = "("
	}
	if in.openHi {
		r = ")"
	}
	return l + strconv.FormatFloat(in.lo, 'g', -1, 64) + ", " + strconv.FormatFloat(in.hi, 'g', -1, 64) + r
}

// float reads a number field within in, or def when absent.
func (d *decoder) float(o *object, key string, def float64, in interval) float64 {
	r, _, at, ok := d.scalar(o, key)
	if !ok {
		return def
	}
	v, isNum := yamldoc.Float(r)
	if !isNum || !in.contains(v) {
		d.Addf(at, yamldoc.Join(o.field, key), "got %s; want a number in %s", yamldoc.Describe(r), in)
		return def
	}
	return v
}

// floats reads a list of 1..maxLen distinct numbers within (lo, hi], or def
// when absent.
func (d *decoder) floats(o *object, key string, def []float64, lo, hi float64, maxLen int) []float64 {
	field := yamldoc.Join(o.field, key)
	items, at, ok := d.list(o, key, "a list of numbers")
	if !ok {
		return def
	}
	if len(items) == 0 || len(items) > maxLen {
		d.Addf(at, field, "%d values; want 1 to %d", len(items), maxLen)
		return def
	}
	out := make([]float64, 0, len(items))
	for i, item := range items {
		r, _ := d.Resolve(item, yamldoc.Index(field, i))
		if r == nil {
			continue
		}
		v, isNum := yamldoc.Float(r)
		switch {
		case !isNum || !(interval{lo: lo, hi: hi, openLo: true}).contains(v):
			d.Addf(yamldoc.PosOf(item), yamldoc.Index(field, i), "got %s; want a number in %s", yamldoc.Describe(r), interval{lo: lo, hi: hi, openLo: true})
		case slices.Contains(out, v):
			d.Addf(yamldoc.PosOf(item), yamldoc.Index(field, i), "%s is listed twice", r.GetToken().Value)
		default:
			out = append(out, v)
		}
	}
	return out
}

// list reads a list field (a lone scalar counts as a list of one); ok is
// false when absent, null, or not a list (reported).
func (d *decoder) list(o *object, key, what string) (items []ast.Node, at yamldoc.Pos, ok bool) {
	e, found := o.vals[key]
	if !found {
		return nil, o.at, false
	}
	field := yamldoc.Join(o.field, key)
	at = e.ValuePos()
	r, _ := d.Resolve(e.Value, field)
	switch v := r.(type) {
	case nil, *ast.NullNode:
		return nil, at, false
	case *ast.SequenceNode:
		if !d.Spend(len(v.Values), at, field) {
			return nil, at, false
		}
		return v.Values, at, true
	case *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode:
		return []ast.Node{e.Value}, at, true
	}
	d.Addf(at, field, "got %s; want %s", yamldoc.Describe(r), what)
	return nil, at, false
}

// ref is a reference to a block by name, where it is written.
type ref struct {
	name  string
	at    yamldoc.Pos
	field string
}

// refs reads a list of block names (one name alone counts as a list).
func (d *decoder) refs(o *object, key string) ([]ref, bool) {
	field := yamldoc.Join(o.field, key)
	items, _, ok := d.list(o, key, "a list of block names")
	if !ok {
		return nil, false
	}
	out := []ref{}
	seen := map[string]bool{}
	for i, item := range items {
		f := yamldoc.Index(field, i)
		r, isStr := d.Resolve(item, f)
		if r == nil {
			continue
		}
		s, isText := yamldoc.Text(r, isStr, false)
		switch {
		case !isText || s == "":
			d.Addf(yamldoc.PosOf(item), f, "got %s; want a block name", yamldoc.Describe(r))
		case seen[s]:
			d.Addf(yamldoc.PosOf(item), f, "%q is listed twice", s)
		default:
			seen[s] = true
			out = append(out, ref{name: s, at: yamldoc.PosOf(item), field: f})
		}
	}
	return out, true
}

// duration reads a duration field (Go syntax such as 1.5s or 10m; a bare 0
// is zero) within [0, hi], positive when positive is set, or def when
// absent.
func (d *decoder) duration(o *object, key string, def time.Duration, positive bool, hi time.Duration) time.Duration {
	r, isStr, at, ok := d.scalar(o, key)
	if !ok {
		return def
	}
	field := yamldoc.Join(o.field, key)
	s, isText := yamldoc.Text(r, isStr, true)
	dur, err := time.ParseDuration(s)
	lo := "0"
	if positive {
		lo = "more than 0"
	}
	switch {
	case !isText:
		d.Addf(at, field, "got %s; want a duration such as 1.5s or 10m", yamldoc.Describe(r))
	case err != nil:
		d.Addf(at, field, "%q is not a duration: want e.g. 500ms, 10s, 1m30s", s)
	case dur < 0 || (positive && dur == 0) || dur > hi:
		d.Addf(at, field, "%s out of range: want %s to %s", dur, lo, hi)
	default:
		return dur
	}
	return def
}
