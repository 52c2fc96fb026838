package yamldoc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// decode parses src, converts its first document to JSON and returns the
// JSON ("" when the conversion failed) and the problems, as printed.
func decode(t *testing.T, src string) (string, []string) {
	t.Helper()
	docs, err := Parse("f.yaml", []byte(src))
	if err != nil {
		return "", []string{err.Error()}
	}
	var doc *ast.DocumentNode
	var body ast.Node
	if len(docs) > 0 {
		doc, body = docs[0], docs[0].Body
	}
	d := NewDecoder("f.yaml", []byte(src), doc)
	out, ok := d.JSON(body, "")
	var problems []string
	for _, p := range d.Problems() {
		problems = append(problems, p.Error())
	}
	if !ok {
		require.NotEmpty(t, problems, "a failed conversion reports why")
		return "", problems
	}
	require.True(t, json.Valid(out), "%s", out)
	return string(out), problems
}

func TestJSON(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string   // JSON; "" when the conversion fails
		problems   []string // as printed
	}{
		{name: "empty file", yaml: "", want: "null"},
		{name: "comment only", yaml: "# nothing\n", want: "null"},
		{name: "scalars", yaml: "s: abc\nn: 12\nf: 1.5\nb: true\nz: null\nempty:\nneg: -3\nbig: 18446744073709551615\n",
			want: `{"s":"abc","n":12,"f":1.5,"b":true,"z":null,"empty":null,"neg":-3,"big":18446744073709551615}`},
		{name: "keys in file order", yaml: "z: 1\na: 2\nm: 3\n", want: `{"z":1,"a":2,"m":3}`},
		{name: "flow and block lists", yaml: "a: [1, two, {c: 3}]\nb:\n  - x\n  - [y]\n", want: `{"a":[1,"two",{"c":3}],"b":["x",["y"]]}`},
		{name: "literal block", yaml: "a: |\n  line 1\n  line 2\n", want: `{"a":"line 1\nline 2\n"}`},
		{name: "html characters kept", yaml: "a: <b> & c\n", want: `{"a":"<b> & c"}`},
		{name: "numeric and boolean keys", yaml: "1: a\ntrue: b\n", want: `{"1":"a","true":"b"}`},
		{name: "str tag", yaml: "a: !!str 12\nb: !!str true\nc: !!str\n", want: `{"a":"12","b":"true","c":""}`},
		{name: "plain tags", yaml: "a: !!int 3\nb: !!float 2.5\nc: !!seq [1]\nd: !!map {e: 1}\nt: !!timestamp 2001-12-14\n",
			want: `{"a":3,"b":2.5,"c":[1],"d":{"e":1},"t":"2001-12-14"}`},
		{name: "anchors and aliases", yaml: "x: &v {a: 1}\ny: *v\nz: [*v, *v]\n", want: `{"x":{"a":1},"y":{"a":1},"z":[{"a":1},{"a":1}]}`},
		{name: "merge keys: written keys win", yaml: "base: &b {a: 1, b: 2}\nm: {<<: *b, b: 3}\n", want: `{"base":{"a":1,"b":2},"m":{"b":3,"a":1}}`},
		{name: "merge keys: earlier mappings win", yaml: "p: &p {a: 1}\nq: &q {a: 2, b: 2}\nm: {<<: [*p, *q]}\n",
			want: `{"p":{"a":1},"q":{"a":2,"b":2},"m":{"a":1,"b":2}}`},
		{name: "nested merge", yaml: "p: &p {a: 1}\nq: &q {<<: *p, b: 2}\nm: {<<: *q, c: 3}\n",
			want: `{"p":{"a":1},"q":{"b":2,"a":1},"m":{"c":3,"b":2,"a":1}}`},
		{name: "unknown alias", yaml: "a: 1\nb: *nope\n", problems: []string{
			"f.yaml:2:4: b: alias *nope names no anchor defined before it"}},
		{name: "alias before its anchor", yaml: "a: *x\nb: &x 1\n", problems: []string{
			"f.yaml:1:4: a: alias *x names no anchor defined before it"}},
		{name: "unsupported tag", yaml: "a: !!binary eA==\nb: !custom 3\n", problems: []string{
			"f.yaml:1:4: a: tag !!binary is not supported; expected a plain value",
			"f.yaml:2:4: b: tag !custom is not supported; expected a plain value"}},
		{name: "infinity and nan", yaml: "a: .inf\nb: [1, -.inf, .nan]\n", problems: []string{
			"f.yaml:1:4: a: .inf cannot be represented in JSON; expected a finite number",
			"f.yaml:2:8: b[1]: -.inf cannot be represented in JSON; expected a finite number",
			"f.yaml:2:15: b[2]: .nan cannot be represented in JSON; expected a finite number"}},
		{name: "numbers beyond float64 and int64 stay strings", yaml: "a: 1e999\nb: 123456789012345678901234567890\n",
			want: `{"a":"1e999","b":"123456789012345678901234567890"}`},
		{name: "duplicate key", yaml: "a: 1\na: 2\n", problems: []string{
			`f.yaml:2:1: invalid YAML: mapping key "a" already defined at [1:1]`}},
		{name: "duplicate key through an alias", yaml: "&k a: 1\n*k : 2\n", problems: []string{"f.yaml:2:1: a: duplicate key"}},
		{name: "null key", yaml: "null: v\n", problems: []string{"f.yaml:1:1: key null is not supported; expected a string key"}},
		{name: "merge of a scalar", yaml: "m: {<<: 5}\n", problems: []string{
			"f.yaml:1:9: m: merge key (<<) got the number 5; expected a mapping or a list of mappings"}},
		{name: "merge list of scalars", yaml: "m:\n  <<: [x]\n", problems: []string{
			"f.yaml:2:8: m: merge key (<<) got \"x\" in its list; expected mappings"}},
		{name: "problem in an anchor used twice is reported once", yaml: "a: &x [.inf]\nb: *x\nc: *x\n", problems: []string{
			"f.yaml:1:8: a[0]: .inf cannot be represented in JSON; expected a finite number"}},
		{name: "every problem at once, by position", yaml: "z: .nan\na: *none\nb: !x 1\n", problems: []string{
			"f.yaml:1:4: z: .nan cannot be represented in JSON; expected a finite number",
			"f.yaml:2:4: a: alias *none names no anchor defined before it",
			"f.yaml:3:4: b: tag !x is not supported; expected a plain value"}},
		{name: "syntax error", yaml: "a: [1,\nb: 2\n", problems: []string{
			"f.yaml:1:4: invalid YAML: sequence end token ']' not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := decode(t, tt.yaml)
			require.Equal(t, tt.problems, problems)
			if tt.problems == nil {
				require.JSONEq(t, tt.want, got)
				require.Equal(t, tt.want, got, "keys in file order")
			}
		})
	}
}

func TestExpansionBound(t *testing.T) {
	tests := []struct {
		name string
		yaml string
	}{
		{name: "nested lists", yaml: func() string {
			var b strings.Builder
			b.WriteString("l0: &l0 [1, 1, 1, 1]\n")
			for i := 1; i <= 10; i++ {
				fmt.Fprintf(&b, "l%d: &l%d [*l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1)
			}
			return b.String()
		}()},
		{name: "nested merge keys", yaml: func() string {
			var b strings.Builder
			b.WriteString("m0: &m0 {a: 1, b: 2, c: 3, d: 4}\n")
			for i := 1; i <= 12; i++ {
				fmt.Fprintf(&b, "m%d: &m%d {<<: [*m%d, *m%d, *m%d, *m%d]}\n", i, i, i-1, i-1, i-1, i-1)
			}
			return b.String()
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := decode(t, tt.yaml)
			require.Empty(t, got)
			require.Len(t, problems, 1)
			require.Contains(t, problems[0], "expands to more than 65536 values through aliases")
		})
	}
}

func TestParseDocuments(t *testing.T) {
	tests := []struct {
		name, yaml string
		docs       int
	}{
		{"empty", "", 0},
		{"comment", "# c\n", 0},
		{"one", "a: 1\n", 1},
		{"trailing separator", "a: 1\n---\n", 1},
		{"two", "a: 1\n---\nb: 2\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Parse("f.yaml", []byte(tt.yaml))
			require.NoError(t, err)
			require.Len(t, docs, tt.docs)
		})
	}
}

func TestSyntaxProblem(t *testing.T) {
	_, err := Parse("f.yaml", []byte("a: 1\nb: [\n"))
	var p *Problem
	require.ErrorAs(t, err, &p)
	require.Equal(t, "f.yaml", p.File)
	require.Positive(t, p.Line)
	require.Positive(t, p.Column)
	require.Empty(t, p.Field)
	require.True(t, strings.HasPrefix(p.Msg, "invalid YAML: "), p.Msg)
	require.NotContains(t, p.Msg, "\n")
	require.ErrorIs(t, err, rig.ErrInvalid)
}

func TestEntries(t *testing.T) {
	docs, err := Parse("f.yaml", []byte("x-base: &b {a: 1, b: 2}\nm:\n  c: 3\n  <<: *b\n  a: 4\n"))
	require.NoError(t, err)
	d := NewDecoder("f.yaml", nil, docs[0])
	root := d.Entries(docs[0].Body.(*ast.MappingNode), "")
	require.Len(t, root, 2)
	require.Equal(t, "m", root[1].Key)
	require.Equal(t, Pos{2, 1}, root[1].At)
	m, _ := d.Resolve(root[1].Value, "m")
	var got []string
	for _, e := range d.Entries(m.(*ast.MappingNode), "m") {
		got = append(got, fmt.Sprintf("%s@%d:%d", e.Key, e.At.Line, e.At.Col))
	}
	// Written keys first, in order, then the merged keys they do not hide.
	require.Equal(t, []string{"c@3:3", "a@5:3", "b@1:19"}, got)
	require.False(t, d.Failed())
	require.NoError(t, d.Err())
}

func TestScalars(t *testing.T) {
	tests := []struct {
		yaml            string
		describe        string
		text            string // "" when Text with plain fails
		i               int64
		iOK             bool
		u               uint64
		uOK             bool
		f               float64
		fOK, null, isSt bool
	}{
		{yaml: "abc", describe: `"abc"`, text: "abc"},
		{yaml: "12", describe: "the number 12", text: "12", i: 12, iOK: true, u: 12, uOK: true, f: 12, fOK: true},
		{yaml: "-3", describe: "the number -3", text: "-3", i: -3, iOK: true, f: -3, fOK: true},
		{yaml: "18446744073709551615", describe: "the number 18446744073709551615", text: "18446744073709551615",
			u: 18446744073709551615, uOK: true, f: 18446744073709551615, fOK: true},
		{yaml: "0.25", describe: "the number 0.25", text: "0.25", f: 0.25, fOK: true},
		{yaml: ".inf", describe: "the number .inf", text: ".inf"},
		{yaml: "true", describe: "the boolean true", text: "true"},
		{yaml: "null", describe: "null", null: true},
		{yaml: "[1]", describe: "a list"},
		{yaml: "{a: 1}", describe: "a mapping"},
		{yaml: "!!str 5", describe: "the number 5", text: "5", i: 5, iOK: true, u: 5, uOK: true, f: 5, fOK: true, isSt: true},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			docs, err := Parse("f.yaml", []byte("v: "+tt.yaml+"\n"))
			require.NoError(t, err)
			d := NewDecoder("f.yaml", nil, docs[0])
			e := d.Entries(docs[0].Body.(*ast.MappingNode), "")
			require.Len(t, e, 1)
			require.Equal(t, Pos{1, 4}, e[0].ValuePos())
			n, isStr := d.Resolve(e[0].Value, "v")
			require.Equal(t, tt.isSt, isStr)
			require.Equal(t, tt.describe, Describe(n))
			s, ok := Text(n, false, true)
			require.Equal(t, tt.text, s)
			require.Equal(t, tt.text != "", ok)
			i, ok := Int(n)
			require.Equal(t, tt.iOK, ok)
			require.Equal(t, tt.i, i*boolInt(ok))
			u, ok := Uint(n)
			require.Equal(t, tt.uOK, ok)
			require.Equal(t, tt.u, u*uint64(boolInt(ok)))
			f, ok := Float(n)
			require.Equal(t, tt.fOK, ok)
			if ok {
				require.Equal(t, tt.f, f)
			}
			require.Equal(t, tt.null, IsNull(n))
		})
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestAddf(t *testing.T) {
	d := NewDecoder("f.yaml", []byte("1\n12345\n1234\n"), nil)
	d.Addf(Pos{3, 2}, "b", "second")
	d.Addf(Pos{}, "", "unknown place\non two lines")
	d.Addf(Pos{3, 2}, "b", "second")
	d.Addf(Pos{1, 5}, "a", "past the end of line 1")
	d.Addf(Pos{9, 9}, "c", "past the end of the file")
	require.True(t, d.Failed())
	err := d.Err()
	require.Equal(t, strings.Join([]string{
		"f.yaml:1:1: unknown place on two lines",
		"f.yaml:1:2: a: past the end of line 1",
		"f.yaml:3:2: b: second",
		"f.yaml:4:1: c: past the end of the file",
	}, "\n"), err.Error())
	require.ErrorIs(t, err, rig.ErrInvalid)
	var p *Problem
	require.True(t, errors.As(err, &p))
	require.Equal(t, &Problem{File: "f.yaml", Line: 1, Column: 1, Msg: "unknown place on two lines"}, p)
}

func TestFieldPaths(t *testing.T) {
	require.Equal(t, "a", Join("", "a"))
	require.Equal(t, "a.b", Join("a", "b"))
	require.Equal(t, "a[3]", Index("a", 3))
	require.Equal(t, Pos{2, 3}, Pos{}.Or(Pos{2, 3}))
	require.Equal(t, Pos{1, 1}, Pos{1, 1}.Or(Pos{2, 3}))
	require.Equal(t, Pos{}, PosOf(nil))
}
