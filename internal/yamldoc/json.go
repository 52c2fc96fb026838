package yamldoc

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// JSON returns the value of n as JSON, mapping keys in file order (merge
// keys expanded). It reports a problem for each value JSON cannot hold
// and returns false if it reported any; a nil n is null.
func (d *Decoder) JSON(n ast.Node, field string) (json.RawMessage, bool) {
	var buf bytes.Buffer
	if !d.WriteJSON(&buf, n, field) {
		return nil, false
	}
	return json.RawMessage(buf.Bytes()), true
}

// WriteJSON writes the value of n as JSON into buf, as JSON does; it
// returns false (buf then holds no valid JSON) if it reported a problem.
func (d *Decoder) WriteJSON(buf *bytes.Buffer, n ast.Node, field string) bool {
	if !d.Spend(1, PosOf(n), field) {
		return false
	}
	r, isStr, ok := d.resolve(n, field)
	if !ok {
		return false // reported by resolve
	}
	if isStr {
		if s, ok := Text(r, true, true); ok {
			WriteJSONString(buf, s)
			return true
		}
	}
	switch v := r.(type) {
	case nil, *ast.NullNode:
		buf.WriteString("null")
	case *ast.StringNode, *ast.LiteralNode:
		s, _ := Text(v, false, false)
		WriteJSONString(buf, s)
	case *ast.BoolNode:
		buf.WriteString(strconv.FormatBool(v.Value))
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			buf.WriteString(strconv.FormatInt(x, 10))
		case uint64:
			buf.WriteString(strconv.FormatUint(x, 10))
		default:
			d.Addf(PosOf(v), field, "the number %s cannot be represented; expected an integer within 64 bits", tokenValue(v))
			return false
		}
	case *ast.FloatNode:
		if math.IsInf(v.Value, 0) || math.IsNaN(v.Value) {
			d.Addf(PosOf(v), field, "the number %s is out of range for JSON; expected a finite number", tokenValue(v))
			return false
		}
		buf.WriteString(strconv.FormatFloat(v.Value, 'g', -1, 64))
	case *ast.InfinityNode, *ast.NanNode:
		d.Addf(PosOf(v), field, "%s cannot be represented in JSON; expected a finite number", tokenValue(v))
		return false
	case *ast.SequenceNode:
		ok := true
		buf.WriteByte('[')
		for i, item := range v.Values {
			if i > 0 {
				buf.WriteByte(',')
			}
			ok = d.WriteJSON(buf, item, Index(field, i)) && ok
		}
		buf.WriteByte(']')
		return ok
	case *ast.MappingNode:
		before := len(d.problems)
		buf.WriteByte('{')
		for i, e := range d.Entries(v, field) {
			if i > 0 {
				buf.WriteByte(',')
			}
			WriteJSONString(buf, e.Key)
			buf.WriteByte(':')
			ok = d.WriteJSON(buf, e.Value, Join(field, e.Key)) && ok
		}
		buf.WriteByte('}')
		return ok && len(d.problems) == before // keys Entries rejected too
	default:
		d.Addf(PosOf(r), field, "%s cannot be represented in JSON", Describe(r))
		return false
	}
	return true
}

// WriteJSONString writes s as a JSON string, leaving <, > and & as they
// are.
func WriteJSONString(buf *bytes.Buffer, s string) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	buf.WriteString(strings.TrimSuffix(sb.String(), "\n"))
}
