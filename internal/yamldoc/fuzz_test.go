package yamldoc

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// located is the start every reported problem has: the file, a line and
// a column, both from 1.
var located = regexp.MustCompile(`^fuzz\.yaml:([1-9][0-9]*):([1-9][0-9]*): `)

// FuzzDecode checks the package's contract on any input: nothing panics;
// every problem is a *Problem with a one-line message, inside the input,
// printed with its line and column; a conversion that reports nothing
// gives valid JSON, and the same JSON every time.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"a: 1\nb: [x, {c: .inf}]\n",
		"x: &v {a: 1}\ny: {<<: *v, b: *v}\nz: *nope\n",
		"- &a [1, 2]\n- [*a, *a]\n- !!str 3\n- !!binary eA==\n",
		"? [1]\n: v\na: 1\na: 2\n",
		"a: |\n  text\nb: >\n  folded\n",
		"a: [1,\n",
		"&a [*a]",
		"a: 1\n---\nb: 2\n",
		"m: {<<: [1, *x]}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("fuzz.yaml", data)
		if err != nil {
			var p *Problem
			require.ErrorAs(t, err, &p)
			checkProblem(t, data, p)
			return
		}
		for _, doc := range docs {
			var outs []json.RawMessage
			for range 2 {
				d := NewDecoder("fuzz.yaml", data, doc)
				out, ok := d.JSON(doc.Body, "")
				problems := d.Problems()
				for _, p := range problems {
					checkProblem(t, data, p)
				}
				err := d.Err()
				if ok && len(problems) == 0 {
					require.True(t, json.Valid(out), "%s", out)
					require.NoError(t, err)
					outs = append(outs, out)
				} else {
					require.NotEmpty(t, problems, "a failed conversion says why")
					require.ErrorIs(t, err, rig.ErrInvalid)
					require.Len(t, bytes.Split([]byte(err.Error()), []byte("\n")), len(problems), "one line per problem")
				}
				if m, isMap := doc.Body.(*ast.MappingNode); isMap {
					for _, e := range d.Entries(m, "") {
						requireInside(t, data, e.At.Line, e.At.Col)
					}
				}
			}
			if len(outs) == 2 {
				require.Equal(t, outs[0], outs[1], "the same document gives the same JSON")
			}
		}
	})
}

// checkProblem checks one problem against the contract.
func checkProblem(t *testing.T, data []byte, p *Problem) {
	t.Helper()
	m := located.FindStringSubmatch(p.Error())
	require.NotNil(t, m, "a problem names its line and column: %q", p.Error())
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	require.Equal(t, p.Line, line)
	require.Equal(t, p.Column, col)
	require.NotContains(t, p.Msg, "\n")
	require.NotEmpty(t, p.Msg)
	requireInside(t, data, line, col)
}

// requireInside checks that line:col (col counted in characters, at most
// one past a line's end) lies in data, or is 1:1.
func requireInside(t *testing.T, data []byte, line, col int) {
	t.Helper()
	if line == 1 && col == 1 {
		return
	}
	lines := regexp.MustCompile("\r\n|\r|\n").Split(string(data), -1)
	require.LessOrEqual(t, line, len(lines), "line %d of %d", line, len(lines))
	require.LessOrEqual(t, col, len(lines[line-1])+1, "column %d of line %d %q", col, line, lines[line-1])
}
