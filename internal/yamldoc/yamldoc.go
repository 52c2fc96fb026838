package yamldoc

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/twinrig/twinrig/rig"
)

// MaxExpansion bounds the values one document may expand to through
// aliases and merge keys (see the package documentation).
const MaxExpansion = 1 << 16

// Pos is a position in a file, line and column counted from 1. The zero
// Pos is unknown.
type Pos struct{ Line, Col int }

// Known reports whether p is a position in the file.
func (p Pos) Known() bool { return p.Line > 0 }

// Or returns p when it is known, else q.
func (p Pos) Or(q Pos) Pos {
	if p.Known() {
		return p
	}
	return q
}

// Problem is one thing wrong with a file: where it is, which field it
// concerns and what is wrong. The packages that decode with yamldoc
// export it under their own name (protocols.Problem, config.Problem are
// aliases of it).
type Problem struct {
	// File is the name the file was parsed under.
	File string
	// Line and Column locate the problem, both counted from 1.
	Line, Column int
	// Field is the dotted path of the field concerned, such as
	// "blocks[2].present.trials[0]"; empty for the file as a whole.
	Field string
	// Msg says what is wrong, on one line.
	Msg string
}

// Error formats the problem as "file:line:col: field: msg" (without
// "field: " when Field is empty).
func (p *Problem) Error() string {
	if p.Field == "" {
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", p.File, p.Line, p.Column, p.Field, p.Msg)
}

// Unwrap returns rig.ErrInvalid.
func (p *Problem) Unwrap() error { return rig.ErrInvalid }

// Parse parses data, the content of the file named file, and returns its
// documents that hold a value (none for an empty file). A syntax error is
// returned as one *Problem at the parser's position.
func Parse(file string, data []byte) ([]*ast.DocumentNode, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, syntaxProblem(file, data, err)
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	return docs, nil
}

// syntaxProblem turns a parser error into a Problem at its position.
func syntaxProblem(file string, data []byte, err error) *Problem {
	p := &Problem{File: file, Line: 1, Column: 1}
	msg := err.Error()
	var located interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &located) {
		if tk := located.GetToken(); tk != nil && tk.Position != nil && tk.Position.Line > 0 {
			at := lineLengths(data).clamp(Pos{tk.Position.Line, tk.Position.Column})
			p.Line, p.Column = at.Line, at.Col
		}
		msg = located.GetMessage()
	}
	p.Msg = "invalid YAML: " + oneLine(msg)
	return p
}

// oneLine returns the first non-empty line of s, trimmed.
func oneLine(s string) string {
	for line := range strings.SplitSeq(strings.ReplaceAll(s, "\r", "\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return "syntax error"
}

// lines holds the length of each line of a file, in characters.
type lines []int

// lineLengths splits data into lines as the parser does: at "\n", "\r\n"
// or a lone "\r".
func lineLengths(data []byte) lines {
	var out lines
	n := 0
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		i += size
		switch r {
		case '\r':
			if i < len(data) && data[i] == '\n' {
				i++
			}
			fallthrough
		case '\n':
			out = append(out, n)
			n = 0
		default:
			n++
		}
	}
	return append(out, n)
}

// clamp moves p inside the file: the parser places some nodes (implicit
// nulls, the end of the input) past the end of their line. The result is
// at most one past the end of its line, and at least 1:1.
func (l lines) clamp(p Pos) Pos {
	if p.Line < 1 || len(l) == 0 {
		return Pos{1, 1}
	}
	if p.Line > len(l) {
		p = Pos{len(l), l[len(l)-1] + 1}
	}
	p.Col = min(max(p.Col, 1), l[p.Line-1]+1)
	return p
}

// Decoder walks the nodes of one document and collects the problems it
// finds. It is not safe for concurrent use.
type Decoder struct {
	file     string
	lines    lines                       // of the file, to keep positions inside it
	aliases  map[*ast.AliasNode]ast.Node // each alias -> its anchor's value
	problems []*Problem
	reported map[string]bool // position and message of each problem
	budget   int             // values left to expand
}

// NewDecoder returns a decoder for doc (nil: an empty document), a
// document that Parse found in data, the content of the file named file.
func NewDecoder(file string, data []byte, doc *ast.DocumentNode) *Decoder {
	d := &Decoder{file: file, lines: lineLengths(data), aliases: map[*ast.AliasNode]ast.Node{}, reported: map[string]bool{}, budget: MaxExpansion}
	if doc != nil {
		d.collectAnchors(doc, map[string]ast.Node{})
	}
	return d
}

// File returns the name the decoder reports problems under.
func (d *Decoder) File() string { return d.file }

// Addf records a problem with field at p (1:1 when p is unknown; a
// position past the end of its line is moved to one past its end). The
// same message at the same place is recorded once.
func (d *Decoder) Addf(p Pos, field, format string, args ...any) {
	msg := lineBreaks.Replace(fmt.Sprintf(format, args...))
	field = escapeBreaks.Replace(field) // keys may hold line breaks
	p = d.lines.clamp(p)
	key := fmt.Sprintf("%d:%d:%s", p.Line, p.Col, msg)
	if d.reported[key] {
		return
	}
	d.reported[key] = true
	d.problems = append(d.problems, &Problem{File: d.file, Line: p.Line, Column: p.Col, Field: field, Msg: msg})
}

// lineBreaks and escapeBreaks keep a problem on one line.
var (
	lineBreaks   = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")
	escapeBreaks = strings.NewReplacer("\n", `\n`, "\r", `\r`)
)

// Failed reports whether any problem has been recorded.
func (d *Decoder) Failed() bool { return len(d.problems) > 0 }

// Problems returns the problems recorded, ordered by position (problems
// at one place in the order recorded).
func (d *Decoder) Problems() []*Problem {
	out := slices.Clone(d.problems)
	slices.SortStableFunc(out, func(a, b *Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return out
}

// Err returns the problems recorded (see Problems) joined with
// errors.Join, or nil when there are none.
func (d *Decoder) Err() error {
	errs := make([]error, 0, len(d.problems))
	for _, p := range d.Problems() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// PosOf returns where n is written: the first key of a block mapping, the
// first token of anything else (for a key with no value, just after the
// key); the zero Pos when n is nil or has no position.
func PosOf(n ast.Node) Pos {
	switch v := n.(type) {
	case nil:
		return Pos{}
	case *ast.MappingNode:
		if len(v.Values) > 0 && !v.IsFlowStyle && v.Values[0] != nil {
			return PosOf(v.Values[0])
		}
	case *ast.MappingValueNode:
		if v.Key != nil {
			return PosOf(v.Key)
		}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil || tk.Position.Line < 1 {
		return Pos{}
	}
	return Pos{tk.Position.Line, max(tk.Position.Column, 1)}
}

// collectAnchors maps every alias to the value of the anchor it names. An
// anchor is registered once its whole value has been walked, so an alias
// only names a node that ends before it: alias chains cannot loop.
func (d *Decoder) collectAnchors(n ast.Node, anchors map[string]ast.Node) {
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
		if v.Name != nil && v.Name.GetToken() != nil {
			anchors[v.Name.GetToken().Value] = v.Value
		}
	case *ast.AliasNode:
		if v.Value != nil && v.Value.GetToken() != nil {
			if target, ok := anchors[v.Value.GetToken().Value]; ok {
				d.aliases[v] = target
			}
		}
	}
}

// plainTags only restate what a plain value already is.
var plainTags = []string{"!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!timestamp"}

// Resolve strips anchors, follows aliases and applies tags. It returns the
// node that holds the value and whether the !!str tag makes it a string;
// nil, after reporting a problem with field, for an alias to no anchor or
// an unsupported tag, and nil without a problem when there is no value (n
// is nil).
func (d *Decoder) Resolve(n ast.Node, field string) (node ast.Node, isStr bool) {
	node, isStr, _ = d.resolve(n, field)
	return node, isStr
}

// resolve is Resolve, with ok false when it reported a problem.
func (d *Decoder) resolve(n ast.Node, field string) (node ast.Node, isStr, ok bool) {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			target, ok := d.aliases[v]
			if !ok {
				d.Addf(PosOf(v), field, "alias %s names no anchor defined before it", v.String())
				return nil, false, false
			}
			n = target
		case *ast.MappingKeyNode:
			n = v.Value
		case *ast.TagNode:
			tag := ""
			if v.Start != nil {
				tag = v.Start.Value
			}
			switch {
			case tag == "!!str":
				isStr = true
			case slices.Contains(plainTags, tag):
			default:
				d.Addf(PosOf(v), field, "tag %s is not supported; expected a plain value", tag)
				return nil, false, false
			}
			n = v.Value
		default:
			return n, isStr, true
		}
	}
}

// Describe names a resolved node for messages: `"abc"`, `the number 12`,
// `the boolean true`, `a mapping`, `a list`, `null`.
func Describe(n ast.Node) string {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.StringNode:
		return strconv.Quote(v.Value)
	case *ast.LiteralNode:
		s, _ := Text(v, false, false)
		return strconv.Quote(s)
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + tokenValue(n)
	case *ast.BoolNode:
		return "the boolean " + tokenValue(n)
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return "a " + n.Type().String()
}

// tokenValue returns a node's token as written.
func tokenValue(n ast.Node) string {
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// Text returns the string a resolved scalar holds: strings always; numbers
// and booleans as written when plain is true or the !!str tag applies
// (isStr); null as written only under !!str.
func Text(n ast.Node, isStr, plain bool) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", true
		}
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		if isStr || plain {
			return tokenValue(n), true
		}
	case *ast.NullNode:
		if !isStr {
			break
		}
		if tk := v.GetToken(); tk != nil && tk.Type == token.ImplicitNullType {
			return "", true // "!!str" alone is the empty string
		}
		return tokenValue(n), true
	}
	return "", false
}

// IsNull reports whether a resolved node is null (nil or written null or
// with no value).
func IsNull(n ast.Node) bool {
	switch n.(type) {
	case nil, *ast.NullNode:
		return true
	}
	return false
}

// Int returns the value of an integer node that fits an int64.
func Int(n ast.Node) (int64, bool) {
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

// Uint returns the value of a non-negative integer node that fits a
// uint64.
func Uint(n ast.Node) (uint64, bool) {
	i, ok := n.(*ast.IntegerNode)
	if !ok {
		return 0, false
	}
	switch v := i.Value.(type) {
	case int64:
		return uint64(v), v >= 0
	case uint64:
		return v, true
	}
	return 0, false
}

// Float returns the value of a finite number node (integer or float).
func Float(n ast.Node) (float64, bool) {
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

// Entry is one key of a mapping, merge keys expanded.
type Entry struct {
	// Key is the key as a string.
	Key string
	// At is where the key is written.
	At Pos
	// Value is the key's value as written (not resolved); nil or a null
	// node when the key has none.
	Value ast.Node
}

// ValuePos returns where the entry's value is written, or where its key
// is when the value has no position.
func (e Entry) ValuePos() Pos { return PosOf(e.Value).Or(e.At) }

// Entries lists the keys of the resolved mapping m in file order, with
// merge keys (<<) expanded: keys written in m win over merged ones,
// earlier merged mappings over later ones. It reports keys that are not
// scalars, duplicate keys and merge keys whose value is not a mapping or
// a list of mappings; each key of a merged mapping spends one value of
// the expansion budget.
func (d *Decoder) Entries(m *ast.MappingNode, field string) []Entry {
	if m == nil {
		return nil
	}
	var out []Entry
	seen := map[string]bool{}
	var merges []ast.Node
	for _, mv := range m.Values {
		if mv == nil || mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			merges = append(merges, mv.Value)
			continue
		}
		k, isStr := d.Resolve(mv.Key, field)
		if k == nil {
			continue
		}
		name, ok := Text(k, isStr, true)
		if !ok {
			d.Addf(PosOf(mv.Key), field, "key %s is not supported; expected a string key", Describe(k))
			continue
		}
		if seen[name] {
			d.Addf(PosOf(mv.Key), Join(field, name), "duplicate key")
			continue
		}
		seen[name] = true
		out = append(out, Entry{Key: name, At: PosOf(mv.Key), Value: mv.Value})
	}
	for _, v := range merges {
		for _, e := range d.merged(v, field) {
			if !seen[e.Key] {
				seen[e.Key] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// merged returns the entries a merge key's value contributes: one mapping,
// or a list of mappings, the earlier winning.
func (d *Decoder) merged(v ast.Node, field string) []Entry {
	r, _ := d.Resolve(v, field)
	switch m := r.(type) {
	case nil:
		return nil
	case *ast.MappingNode:
		if !d.Spend(len(m.Values), PosOf(v), field) {
			return nil
		}
		return d.Entries(m, field)
	case *ast.SequenceNode:
		var out []Entry
		seen := map[string]bool{}
		for _, item := range m.Values {
			ri, _ := d.Resolve(item, field)
			mm, ok := ri.(*ast.MappingNode)
			if !ok {
				if ri != nil {
					d.Addf(PosOf(item).Or(PosOf(v)), field, "merge key (<<) got %s in its list; expected mappings", Describe(ri))
				}
				continue
			}
			if !d.Spend(len(mm.Values), PosOf(item).Or(PosOf(v)), field) {
				return out
			}
			for _, e := range d.Entries(mm, field) {
				if !seen[e.Key] {
					seen[e.Key] = true
					out = append(out, e)
				}
			}
		}
		return out
	default:
		d.Addf(PosOf(v), field, "merge key (<<) got %s; expected a mapping or a list of mappings", Describe(r))
		return nil
	}
}

// Spend takes n values from the document's expansion budget. When the
// budget runs out it reports, once, that field expands too far, at p; it
// returns false then and from then on.
func (d *Decoder) Spend(n int, p Pos, field string) bool {
	if d.budget < 0 {
		return false
	}
	d.budget -= n
	if d.budget < 0 {
		d.Addf(p, field, "expands to more than %d values through aliases", MaxExpansion)
		return false
	}
	return true
}

// Join appends a key to a dotted field path.
func Join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// Index appends a list index to a field path.
func Index(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }
