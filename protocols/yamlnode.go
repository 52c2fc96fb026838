package protocols

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// maxExpansion bounds the YAML nodes one experiment may expand to through
// aliases, so that a few nested aliases cannot make a small file produce
// gigabytes of stimulus specifications.
const maxExpansion = 1 << 16

// extensionPrefix starts the top-level keys that are ignored: a place to
// define anchors that the blocks refer to.
const extensionPrefix = "x-"

// pos is a position in the file, counted from 1; the zero pos is unknown.
type pos struct{ line, col int }

// decoder walks the YAML tree of an experiment file and collects every
// problem it finds.
type decoder struct {
	file     string
	aliases  map[*ast.AliasNode]ast.Node // each alias -> its anchor's value
	problems []*Problem
	reported map[string]bool // position and message of each problem
	budget   int             // nodes left to expand
}

func newDecoder(file string, doc *ast.DocumentNode) *decoder {
	d := &decoder{file: file, aliases: map[*ast.AliasNode]ast.Node{}, reported: map[string]bool{}, budget: maxExpansion}
	d.collectAnchors(doc, map[string]ast.Node{})
	return d
}

// addf records a problem at p. A problem inside an anchored value used
// several times is reported once.
func (d *decoder) addf(p pos, field, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.line < 1 {
		p = pos{1, 1}
	}
	key := fmt.Sprintf("%d:%d:%s", p.line, p.col, msg)
	if d.reported[key] {
		return
	}
	d.reported[key] = true
	d.problems = append(d.problems, &Problem{File: d.file, Line: p.line, Column: p.col, Field: field, Msg: msg})
}

// err returns the problems found, sorted by position, joined; or nil.
func (d *decoder) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	slices.SortStableFunc(d.problems, func(a, b *Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	errs := make([]error, len(d.problems))
	for i, p := range d.problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// posOf returns where a node is written: the first key of a block mapping,
// the first token of anything else.
func posOf(n ast.Node) pos {
	switch v := n.(type) {
	case nil:
		return pos{}
	case *ast.MappingNode:
		if len(v.Values) > 0 && !v.IsFlowStyle {
			return posOf(v.Values[0])
		}
	case *ast.MappingValueNode:
		return posOf(v.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return pos{}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

// collectAnchors maps every alias to the value of the anchor it names. An
// anchor is registered once its whole value has been walked, so an alias
// only names a node that ends before it: alias chains cannot loop.
func (d *decoder) collectAnchors(n ast.Node, anchors map[string]ast.Node) {
	switch v := n.(type) {
	case *ast.DocumentNode:
		d.collectAnchors(v.Body, anchors)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			d.collectAnchors(mv, anchors)
		}
	case *ast.MappingValueNode:
		d.collectAnchors(v.Key, anchors)
		d.collectAnchors(v.Value, anchors)
	case *ast.MappingKeyNode:
		d.collectAnchors(v.Value, anchors)
	case *ast.SequenceNode:
		for _, e := range v.Values {
			d.collectAnchors(e, anchors)
		}
	case *ast.TagNode:
		d.collectAnchors(v.Value, anchors)
	case *ast.AnchorNode:
		d.collectAnchors(v.Value, anchors)
		if v.Name != nil {
			anchors[v.Name.GetToken().Value] = v.Value
		}
	case *ast.AliasNode:
		if v.Value != nil {
			if target, ok := anchors[v.Value.GetToken().Value]; ok {
				d.aliases[v] = target
			}
		}
	}
}

// plainTags only restate what a plain value already is.
var plainTags = []string{"!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq"}

// resolve strips anchors, follows aliases and applies tags. It returns the
// node holding the value and whether the !!str tag forces it to be a
// string; nil (after reporting a problem) for an unknown alias or tag.
func (d *decoder) resolve(n ast.Node, field string) (node ast.Node, isStr bool) {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			target, ok := d.aliases[v]
			if !ok {
				d.addf(posOf(v), field, "alias %s names no anchor defined before it", v.String())
				return nil, false
			}
			n = target
		case *ast.MappingKeyNode:
			n = v.Value
		case *ast.TagNode:
			switch tag := v.Start.Value; {
			case tag == "!!str":
				isStr = true
			case slices.Contains(plainTags, tag):
			default:
				d.addf(posOf(v), field, "tag %s is not supported; want a plain value", tag)
				return nil, false
			}
			n = v.Value
		default:
			return n, isStr
		}
	}
}

// describe names a resolved node for messages.
func describe(n ast.Node) string {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.StringNode:
		return strconv.Quote(v.Value)
	case *ast.LiteralNode:
		return strconv.Quote(v.Value.Value)
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + n.GetToken().Value
	case *ast.BoolNode:
		return "the boolean " + v.Token.Value
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return "a " + n.Type().String()
}

// text returns the string a resolved scalar holds: strings always; numbers
// and booleans as written when plain is true or the !!str tag applies.
func text(n ast.Node, isStr, plain bool) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		if isStr || plain {
			return n.GetToken().Value, true
		}
	case *ast.NullNode:
		if isStr {
			return n.GetToken().Value, true
		}
	}
	return "", false
}

// entry is one key of a mapping, merge keys expanded.
type entry struct {
	key   string
	at    pos // where the key is written
	value ast.Node
}

// entries lists the keys of the mapping n in file order, with merge keys
// (<<) expanded: explicit keys win over merged ones, earlier merged
// mappings over later ones.
func (d *decoder) entries(n *ast.MappingNode, field string) []entry {
	var out []entry
	seen := map[string]bool{}
	var merges []ast.Node
	for _, mv := range n.Values {
		if !d.spend(1, posOf(mv), field) {
			return out
		}
		if mv.Key.IsMergeKey() {
			merges = append(merges, mv.Value)
			continue
		}
		k, isStr := d.resolve(mv.Key, field)
		if k == nil {
			continue
		}
		name, ok := text(k, isStr, true)
		if !ok {
			d.addf(posOf(mv.Key), field, "key %s is not supported; want a string key", describe(k))
			continue
		}
		if seen[name] {
			d.addf(posOf(mv.Key), join(field, name), "duplicate key")
			continue
		}
		seen[name] = true
		out = append(out, entry{key: name, at: posOf(mv.Key), value: mv.Value})
	}
	for _, m := range merges {
		for _, e := range d.merged(m, field) {
			if !seen[e.key] {
				seen[e.key] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// merged returns the entries a merge key's value contributes: one mapping
// or a list of mappings, the earlier winning.
func (d *decoder) merged(v ast.Node, field string) []entry {
	r, _ := d.resolve(v, field)
	switch m := r.(type) {
	case nil:
		return nil
	case *ast.MappingNode:
		return d.entries(m, field)
	case *ast.SequenceNode:
		var out []entry
		seen := map[string]bool{}
		for _, item := range m.Values {
			ri, _ := d.resolve(item, field)
			mm, ok := ri.(*ast.MappingNode)
			if !ok {
				if ri != nil {
					d.addf(posOf(item), field, "merge key (<<) got %s in its list; want mappings", describe(ri))
				}
				continue
			}
			for _, e := range d.entries(mm, field) {
				if !seen[e.key] {
					seen[e.key] = true
					out = append(out, e)
				}
			}
		}
		return out
	default:
		d.addf(posOf(v), field, "merge key (<<) got %s; want a mapping or a list of mappings", describe(r))
		return nil
	}
}

// spend takes n nodes from the expansion budget, reporting a problem once
// when it runs out.
func (d *decoder) spend(n int, p pos, field string) bool {
	if d.budget < 0 {
		return false
	}
	d.budget -= n
	if d.budget < 0 {
		d.addf(p, field, "the file expands to more than %d values through aliases", maxExpansion)
		return false
	}
	return true
}

// join appends a key to a dotted field path.
func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// index appends a list index to a field path.
func index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// object is a mapping of the schema with its keys checked.
type object struct {
	field string
	at    pos  // where its key is written: the place to report missing fields
	bad   bool // absent, null or not a mapping: report nothing missing in it
	vals  map[string]entry
}

// object reads n (nil when absent) as a mapping that may hold only keys,
// reporting every other key. what names the mapping in messages.
func (d *decoder) object(n ast.Node, field string, at pos, what string, keys ...string) *object {
	o := &object{field: field, at: at, vals: map[string]entry{}}
	r, _ := d.resolve(n, field)
	switch m := r.(type) {
	case nil:
		o.bad = true
	case *ast.NullNode:
		o.bad = true
		d.addf(posOf(n), field, "empty; want a mapping for %s", what)
	case *ast.MappingNode:
		for _, e := range d.entries(m, field) {
			if field == "" && strings.HasPrefix(e.key, extensionPrefix) {
				continue // a place for anchors
			}
			if !slices.Contains(keys, e.key) {
				d.addf(e.at, join(field, e.key), "unknown key; want one of %s", strings.Join(keys, ", "))
				continue
			}
			o.vals[e.key] = e
		}
	default:
		o.bad = true
		d.addf(posOf(r), field, "got %s; want a mapping for %s", describe(r), what)
	}
	return o
}

func (o *object) has(key string) bool {
	_, ok := o.vals[key]
	return ok
}

// keyPos returns where key is written, or where the object is when absent.
func (o *object) keyPos(key string) pos {
	if e, ok := o.vals[key]; ok {
		return e.at
	}
	return o.at
}

// valuePos returns where the value of key is written, or where the object
// is when key is absent.
func (o *object) valuePos(key string) pos {
	if e, ok := o.vals[key]; ok {
		if p := posOf(e.value); p.line > 0 {
			return p
		}
		return e.at
	}
	return o.at
}

// scalar returns the resolved value of key with its position; ok is false
// when the key is absent, null, or unresolvable (already reported).
func (d *decoder) scalar(o *object, key string) (n ast.Node, isStr bool, at pos, ok bool) {
	e, found := o.vals[key]
	if !found {
		return nil, false, o.at, false
	}
	at = posOf(e.value)
	if at.line == 0 {
		at = e.at
	}
	r, isStr := d.resolve(e.value, join(o.field, key))
	if r == nil {
		return nil, false, at, false
	}
	if _, null := r.(*ast.NullNode); null && !isStr {
		return nil, false, at, false
	}
	return r, isStr, at, true
}

// str reads a string field; present says whether it holds one.
func (d *decoder) str(o *object, key, what string) (s string, at pos, present bool) {
	r, isStr, at, ok := d.scalar(o, key)
	if !ok {
		return "", at, false
	}
	s, ok = text(r, isStr, false)
	if !ok {
		d.addf(at, join(o.field, key), "got %s; want %s", describe(r), what)
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
	field := join(o.field, key)
	v, isInt := intValue(r)
	switch {
	case !isInt:
		d.addf(at, field, "got %s; want an integer from %d to %d", describe(r), lo, hi)
		return def
	case v < int64(lo) || v > int64(hi):
		d.addf(at, field, "%s out of range: want %d to %d", r.GetToken().Value, lo, hi)
		return def
	}
	return int(v)
}

// intValue returns the value of an integer node that fits an int64.
func intValue(n ast.Node) (int64, bool) {
	i, ok := n.(*ast.IntegerNode)
	if !ok {
		return 0, false
	}
	switch v := i.Value.(type) {
	case int64:
		return v, true
	case uint64:
		return int64(v), v <= math.MaxInt64
	}
	return 0, false
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
	d.addf(at, join(o.field, key), "got %s; want a seed, an integer from 0 to 2^64-1", describe(r))
	return 0
}

// number returns the value of a finite number node.
func number(n ast.Node) (float64, bool) {
	switch v := n.(type) {
	case *ast.FloatNode:
		return v.Value, !math.IsInf(v.Value, 0) && !math.IsNaN(v.Value)
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			return float64(x), true
		case uint64:
			return float64(x), true
		}
	}
	return 0, false
}

// float reads a number field within [lo, hi] (lo excluded when openLo), or
// def when absent.
func (d *decoder) float(o *object, key string, def, lo, hi float64, openLo bool) float64 {
	r, _, at, ok := d.scalar(o, key)
	if !ok {
		return def
	}
	v, isNum := number(r)
	if !isNum || v > hi || v < lo || (openLo && v == lo) {
		d.addf(at, join(o.field, key), "got %s; want a number in %s", describe(r), interval(lo, hi, openLo))
		return def
	}
	return v
}

func interval(lo, hi float64, openLo bool) string {
	b := "["
	if openLo {
		b = "("
	}
	return fmt.Sprintf("%s%s, %s]", b, strconv.FormatFloat(lo, 'g', -1, 64), strconv.FormatFloat(hi, 'g', -1, 64))
}

// floats reads a list of 1..maxLen distinct numbers within (lo, hi], or def
// when absent.
func (d *decoder) floats(o *object, key string, def []float64, lo, hi float64, maxLen int) []float64 {
	field := join(o.field, key)
	items, at, ok := d.list(o, key, "a list of numbers")
	if !ok {
		return def
	}
	if len(items) == 0 || len(items) > maxLen {
		d.addf(at, field, "%d values; want 1 to %d", len(items), maxLen)
		return def
	}
	out := make([]float64, 0, len(items))
	for i, item := range items {
		r, _ := d.resolve(item, index(field, i))
		if r == nil {
			continue
		}
		v, isNum := number(r)
		switch {
		case !isNum || v <= lo || v > hi:
			d.addf(posOf(item), index(field, i), "got %s; want a number in %s", describe(r), interval(lo, hi, true))
		case slices.Contains(out, v):
			d.addf(posOf(item), index(field, i), "%s is listed twice", r.GetToken().Value)
		default:
			out = append(out, v)
		}
	}
	return out
}

// list reads a list field (a lone scalar counts as a list of one); ok is
// false when absent, null, or not a list (reported).
func (d *decoder) list(o *object, key, what string) (items []ast.Node, at pos, ok bool) {
	e, found := o.vals[key]
	if !found {
		return nil, o.at, false
	}
	field := join(o.field, key)
	at = posOf(e.value)
	if at.line == 0 {
		at = e.at
	}
	r, _ := d.resolve(e.value, field)
	switch v := r.(type) {
	case nil, *ast.NullNode:
		return nil, at, false
	case *ast.SequenceNode:
		if !d.spend(len(v.Values), at, field) {
			return nil, at, false
		}
		return v.Values, at, true
	case *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode:
		return []ast.Node{e.value}, at, true
	}
	d.addf(at, field, "got %s; want %s", describe(r), what)
	return nil, at, false
}

// ref is a reference to a block by name, where it is written.
type ref struct {
	name  string
	at    pos
	field string
}

// refs reads a list of block names (one name alone counts as a list).
func (d *decoder) refs(o *object, key string) ([]ref, bool) {
	field := join(o.field, key)
	items, _, ok := d.list(o, key, "a list of block names")
	if !ok {
		return nil, false
	}
	out := []ref{}
	seen := map[string]bool{}
	for i, item := range items {
		f := index(field, i)
		r, isStr := d.resolve(item, f)
		if r == nil {
			continue
		}
		s, isText := text(r, isStr, false)
		switch {
		case !isText || s == "":
			d.addf(posOf(item), f, "got %s; want a block name", describe(r))
		case seen[s]:
			d.addf(posOf(item), f, "%q is listed twice", s)
		default:
			seen[s] = true
			out = append(out, ref{name: s, at: posOf(item), field: f})
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
	field := join(o.field, key)
	s, isText := text(r, isStr, true)
	dur, err := time.ParseDuration(s)
	lo := "0"
	if positive {
		lo = "more than 0"
	}
	switch {
	case !isText:
		d.addf(at, field, "got %s; want a duration such as 1.5s or 10m", describe(r))
	case err != nil:
		d.addf(at, field, "%q is not a duration: want e.g. 500ms, 10s, 1m30s", s)
	case dur < 0 || (positive && dur == 0) || dur > hi:
		d.addf(at, field, "%s out of range: want %s to %s", dur, lo, hi)
	default:
		return dur
	}
	return def
}

// toJSON writes the value of n as JSON into buf, reporting each value JSON
// cannot hold; it returns false if it reported any.
func (d *decoder) toJSON(n ast.Node, field string, buf *bytes.Buffer) bool {
	if !d.spend(1, posOf(n), field) {
		return false
	}
	r, isStr := d.resolve(n, field)
	if r == nil {
		return false
	}
	if isStr {
		if s, ok := text(r, true, true); ok {
			writeJSONString(buf, s)
			return true
		}
	}
	switch v := r.(type) {
	case *ast.NullNode:
		buf.WriteString("null")
	case *ast.StringNode, *ast.LiteralNode:
		s, _ := text(v, false, false)
		writeJSONString(buf, s)
	case *ast.BoolNode:
		buf.WriteString(strconv.FormatBool(v.Value))
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			buf.WriteString(strconv.FormatInt(x, 10))
		case uint64:
			buf.WriteString(strconv.FormatUint(x, 10))
		default:
			d.addf(posOf(v), field, "the number %s does not fit 64 bits", v.Token.Value)
			return false
		}
	case *ast.FloatNode:
		if math.IsInf(v.Value, 0) || math.IsNaN(v.Value) {
			d.addf(posOf(v), field, "the number %s is out of range", v.Token.Value)
			return false
		}
		buf.WriteString(strconv.FormatFloat(v.Value, 'g', -1, 64))
	case *ast.SequenceNode:
		ok := true
		buf.WriteByte('[')
		for i, item := range v.Values {
			if i > 0 {
				buf.WriteByte(',')
			}
			ok = d.toJSON(item, index(field, i), buf) && ok
		}
		buf.WriteByte(']')
		return ok
	case *ast.MappingNode:
		ok := true
		buf.WriteByte('{')
		for i, e := range d.entries(v, field) {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(buf, e.key)
			buf.WriteByte(':')
			ok = d.toJSON(e.value, join(field, e.key), buf) && ok
		}
		buf.WriteByte('}')
		return ok
	default:
		d.addf(posOf(r), field, "%s cannot be expressed in JSON", describe(r))
		return false
	}
	return true
}

// writeJSONString writes s as a JSON string, leaving <, > and & as they are.
func writeJSONString(buf *bytes.Buffer, s string) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	buf.WriteString(strings.TrimSuffix(sb.String(), "\n"))
}

// syntaxProblem turns a YAML parser error into a Problem at its position.
func syntaxProblem(name string, err error) error {
	p := &Problem{File: name, Line: 1, Column: 1}
	var located interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &located) {
		if tk := located.GetToken(); tk != nil && tk.Position != nil {
			p.Line, p.Column = tk.Position.Line, tk.Position.Column
		}
		p.Msg = "invalid YAML: " + strings.TrimSpace(located.GetMessage())
	} else {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		p.Msg = "invalid YAML: " + msg
	}
	return p
}
