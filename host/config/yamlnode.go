package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// maxExpansion bounds the number of YAML nodes one field may expand to
// through aliases, so that a few nested aliases ("billion laughs") cannot
// make a small file produce gigabytes of plugin settings.
const maxExpansion = 1 << 16

// pos is a position in the config file, counted from 1.
type pos struct{ line, col int }

// decoder walks a parsed YAML document and collects problems.
type decoder struct {
	file     string
	aliases  map[*ast.AliasNode]ast.Node // each alias -> the node of its anchor
	problems []*Problem
	reported map[string]bool // position and message of each problem reported
	budget   int             // nodes left to expand in the current field
}

// addf records a problem at p. A problem inside an anchored value that is
// used several times is reported once, for its first use.
func (d *decoder) addf(p pos, field, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	key := fmt.Sprintf("%d:%d:%s", p.line, p.col, msg)
	if d.reported[key] {
		return
	}
	d.reported[key] = true
	d.problems = append(d.problems, &Problem{
		File: d.file, Line: p.line, Column: p.col, Field: field, Msg: msg,
	})
}

// posOf returns where a node starts in the file: the first key of a block
// mapping, the first token of anything else.
func posOf(n ast.Node) pos {
	switch v := n.(type) {
	case nil:
		return pos{1, 1}
	case *ast.MappingNode:
		if len(v.Values) > 0 && !v.IsFlowStyle {
			return posOf(v.Values[0])
		}
	case *ast.MappingValueNode:
		return posOf(v.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return pos{1, 1}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

// collectAnchors resolves every alias in n to the node its anchor names. An
// anchor is registered once its whole value has been walked, so an alias can
// only name a node that ends before it: alias chains are acyclic.
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

// Tags that only restate what the plain value already is.
var plainTags = []string{"!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!timestamp"}

// resolve strips anchors, follows aliases and applies tags, returning the
// node that holds the value and whether the value is forced to be a string
// (the !!str tag). It reports a problem and returns nil for an unknown alias
// or an unsupported tag.
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
			tag := v.Start.Value
			switch {
			case tag == "!!str":
				isStr = true
			case slices.Contains(plainTags, tag):
			default:
				d.addf(posOf(v), field, "tag %s is not supported; expected a plain value", tag)
				return nil, false
			}
			n = v.Value
		default:
			return n, isStr
		}
	}
}

// describe names a resolved node for messages: `"abc"`, `the number 12`, `a mapping`.
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
		return "a sequence"
	}
	return "a " + n.Type().String()
}

// text returns the string value of a resolved scalar. Only strings count,
// unless plain is true, in which case numbers and booleans count too, as
// written in the file (command-line arguments have no type).
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

// entry is one key of a mapping after merge keys are expanded.
type entry struct {
	key   string
	at    pos // where the key is written
	value ast.Node
}

// entries lists the keys of the mapping n (already resolved), in file order,
// with merge keys (<<) expanded: explicit keys win over merged ones, and
// earlier merged mappings win over later ones, as YAML 1.1 specifies.
func (d *decoder) entries(n *ast.MappingNode, field string) []entry {
	var out []entry
	seen := map[string]bool{}
	var merges []ast.Node
	for _, mv := range n.Values {
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
			d.addf(posOf(mv.Key), field, "key %s is not supported; expected a string key", describe(k))
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
		for _, e := range d.mergeSources(m, field) {
			if !seen[e.key] {
				seen[e.key] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// mergeSources returns the entries a merge key's value contributes: one
// mapping, or a sequence of mappings, the earlier winning.
func (d *decoder) mergeSources(v ast.Node, field string) []entry {
	r, _ := d.resolve(v, field)
	switch m := r.(type) {
	case nil:
		return nil
	case *ast.MappingNode:
		if !d.spend(len(m.Values), posOf(v), field) {
			return nil
		}
		return d.entries(m, field)
	case *ast.SequenceNode:
		var out []entry
		seen := map[string]bool{}
		for _, item := range m.Values {
			ri, _ := d.resolve(item, field)
			mm, ok := ri.(*ast.MappingNode)
			if !ok {
				if ri != nil {
					d.addf(posOf(item), field, "merge key (<<) got %s in its list; expected mappings", describe(ri))
				}
				continue
			}
			if !d.spend(len(mm.Values), posOf(item), field) {
				return out
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
		d.addf(posOf(v), field, "merge key (<<) got %s; expected a mapping or a list of mappings", describe(r))
		return nil
	}
}

// spend takes n nodes from the expansion budget, reporting a problem when
// it runs out.
func (d *decoder) spend(n int, p pos, field string) bool {
	if d.budget < 0 {
		return false
	}
	d.budget -= n
	if d.budget < 0 {
		d.addf(p, field, "expands to more than %d values through aliases", maxExpansion)
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

// toJSON writes the value of n as JSON into buf, reporting a problem for
// each value JSON cannot hold. It returns false if it reported any.
func (d *decoder) toJSON(n ast.Node, field string, buf *bytes.Buffer) bool {
	if !d.spend(1, posOf(n), field) {
		return false
	}
	r, isStr := d.resolve(n, field)
	if r == nil && n != nil {
		return false
	}
	if isStr {
		if s, ok := text(r, true, true); ok {
			writeJSONString(buf, s)
			return true
		}
	}
	switch v := r.(type) {
	case nil, *ast.NullNode:
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
			d.addf(posOf(v), field, "the number %s cannot be represented; expected an integer within 64 bits", v.Token.Value)
			return false
		}
	case *ast.FloatNode:
		if math.IsInf(v.Value, 0) || math.IsNaN(v.Value) {
			d.addf(posOf(v), field, "the number %s is out of range for JSON", v.Token.Value)
			return false
		}
		buf.WriteString(strconv.FormatFloat(v.Value, 'g', -1, 64))
	case *ast.InfinityNode, *ast.NanNode:
		d.addf(posOf(v), field, "%s cannot be represented in JSON; expected a finite number", v.GetToken().Value)
		return false
	case *ast.SequenceNode:
		ok := true
		buf.WriteByte('[')
		for i, item := range v.Values {
			if i > 0 {
				buf.WriteByte(',')
			}
			ok = d.toJSON(item, fmt.Sprintf("%s[%d]", field, i), buf) && ok
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
		d.addf(posOf(r), field, "%s cannot be represented in JSON", describe(r))
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
