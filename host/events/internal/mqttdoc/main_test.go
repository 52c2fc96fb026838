package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/events"
)

// The paths of the package and of the page, from this directory.
const (
	eventsDir = "../.."
	hostDir   = "../../.."
	docPath   = "../../../../docs/mqtt.md"
)

// TestDocIsUpToDate fails when docs/mqtt.md is not what the generator
// writes from the types: a field or a kind added, removed or renamed, a doc
// comment changed, without go generate.
func TestDocIsUpToDate(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	require.NoError(t, err)
	want, err := generate(eventsDir, doc)
	require.NoError(t, err)
	if string(want) != string(doc) {
		t.Fatalf("docs/mqtt.md is stale: run go generate ./host/events and commit the result; it differs in\n%s", lineDiff(string(doc), string(want)))
	}
}

// lineDiff lists the lines only one of a and b has (- a, + b), up to 20.
func lineDiff(a, b string) string {
	count := func(s string) map[string]int {
		n := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			n[l]++
		}
		return n
	}
	na, nb := count(a), count(b)
	var out []string
	for _, side := range []struct {
		sign        string
		text        string
		this, other map[string]int
	}{{"-", a, na, nb}, {"+", b, nb, na}} {
		for _, l := range strings.Split(side.text, "\n") {
			if side.this[l] > side.other[l] && len(out) < 20 {
				out = append(out, side.sign+" "+l)
				side.this[l]--
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestExamplesDecode: every example on the page is a message DecodeEvent
// accepts, with the example's payload.
func TestExamplesDecode(t *testing.T) {
	for i, k := range events.Kinds {
		t.Run(string(k), func(t *testing.T) {
			p := examples()[k]
			msg, err := exampleMessage(p, i+1)
			require.NoError(t, err)
			m, err := events.DecodeEvent([]byte(msg))
			require.NoError(t, err, msg)
			require.Equal(t, k, m.Kind())
			require.Equal(t, exampleRig, m.Rig)
			require.Equal(t, exampleSession, m.Session)
			require.Equal(t, uint64(i+1), m.Seq)
			want, err := json.Marshal(p)
			require.NoError(t, err)
			got, err := json.Marshal(m.Payload)
			require.NoError(t, err)
			require.JSONEq(t, string(want), string(got))
		})
	}
}

// builtPayloads returns the names of the host/events types that the host's
// code (host and its packages, host/events and tests excluded) builds with
// a composite literal: the payloads it sends.
func builtPayloads(t *testing.T) map[string]bool {
	t.Helper()
	const eventsPath = "github.com/twinrig/twinrig/host/events"
	built := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(hostDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == filepath.Join(hostDir, "events") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		local := ""
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == eventsPath {
				local = "events"
				if imp.Name != nil {
					local = imp.Name.Name
				}
			}
		}
		if local == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if sel, ok := lit.Type.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == local {
					built[sel.Sel.Name] = true
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	return built
}

// TestEveryKindIsSent: the page documents events.Kinds; each of them must be
// built by the host (a composite literal of its payload type outside
// host/events), so that no kind is documented that the host does not send.
func TestEveryKindIsSent(t *testing.T) {
	built := builtPayloads(t)
	for _, k := range events.Kinds {
		name := reflect.TypeOf(examples()[k]).Name()
		require.True(t, built[name], "kind %q is documented but the host never builds an events.%s: send it, or drop the kind", k, name)
	}
}

// TestDocMentionsOnlyKindsSent: the hand-written parts of the page name no
// kind that is not sent either, and the payload sections are exactly the
// kinds.
func TestDocMentionsOnlyKindsSent(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`twinrig/<rig>/<session>/(\w+)`).FindAllStringSubmatch(string(doc), -1) {
		require.Contains(t, events.Kinds, events.Kind(m[1]), "the page names the topic %s", m[0])
	}
	_, payloads, ok := strings.Cut(string(doc), "\n## Payloads\n")
	require.True(t, ok, "the page has a Payloads section")
	payloads, _, _ = strings.Cut(payloads, "\n## ")
	var sections []events.Kind
	for _, m := range regexp.MustCompile(`(?m)^### (.+)$`).FindAllStringSubmatch(payloads, -1) {
		sections = append(sections, events.Kind(m[1]))
	}
	require.Equal(t, events.Kinds, sections)
}

// probeSource declares probe types as a payload's source would, with doc
// comments.
const probeSource = `package probe

// ProbeV1 is a payload.
type ProbeV1 struct {
	// A is a count.
	A int
	// Group comes and goes.
	*Group
}

// ProbeV2 is ProbeV1 with a field added.
type ProbeV2 struct {
	// A is a count.
	A int
	// Group comes and goes.
	*Group
	// B is new.
	B []string
}

// Group is a group of optional fields.
type Group struct {
	// C is undefined at times.
	C events.NullFloat
}

// Undocumented has a field without a doc comment.
type Undocumented struct {
	D int
}
`

// Go twins of the probe types, with the json tags the doc is written from.
type (
	ProbeV1 struct {
		A int `json:"a"`
		*Group
	}
	ProbeV2 struct {
		A int `json:"a"`
		*Group
		B []string `json:"b,omitempty"`
	}
	Group struct {
		C events.NullFloat `json:"c"`
	}
	Undocumented struct {
		D int `json:"d"`
	}
)

// TestFieldRows: the rows follow the json tags, so a field added to a type
// adds a row (the page then differs from the one committed), and a field
// without a doc comment is refused.
func TestFieldRows(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "probe.go", probeSource, parser.ParseComments)
	require.NoError(t, err)
	src := collectDocs([]*ast.File{f})

	v1, notes, err := fieldRows(src, reflect.TypeFor[ProbeV1](), "", false)
	require.NoError(t, err)
	require.Equal(t, []string{
		"| `a` | integer | A is a count. |",
		"| `c` | number or null, optional | C is undefined at times. |",
	}, v1)
	require.Equal(t, []string{"`c`: Group comes and goes."}, notes)

	v2, _, err := fieldRows(src, reflect.TypeFor[ProbeV2](), "", false)
	require.NoError(t, err)
	require.Equal(t, append(slices.Clone(v1), "| `b` | array of strings, optional | B is new. |"), v2)

	_, _, err = fieldRows(src, reflect.TypeFor[Undocumented](), "", false)
	require.ErrorContains(t, err, "Undocumented.D has no doc comment")
}

// TestGenerateRefusesAKindWithoutItsParts: a kind without a constant, a
// doc comment or an example cannot be documented.
func TestGenerateRefusesAKindWithoutItsParts(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	require.NoError(t, err)
	saved := events.Kinds
	defer func() { events.Kinds = saved }()
	events.Kinds = append(slices.Clone(saved), "probe")

	_, err = generate(eventsDir, doc)

	require.ErrorContains(t, err, `kind "probe": no constant declares it`)
}

func TestReplaceRegion(t *testing.T) {
	tests := []struct {
		name, doc, want, err string
	}{
		{
			name: "replaced",
			doc:  "a\n<!-- BEGIN GENERATED x (note) -->\nold\n<!-- END GENERATED x -->\nb\n",
			want: "a\n<!-- BEGIN GENERATED x (note) -->\nnew\n<!-- END GENERATED x -->\nb\n",
		},
		{name: "no markers", doc: "a\n", err: "found 0 and 0"},
		{name: "end first", doc: "<!-- END GENERATED x -->\n<!-- BEGIN GENERATED x -->\n", err: "found 1 and 1"},
		{name: "twice", doc: "<!-- BEGIN GENERATED x -->\n<!-- END GENERATED x -->\n<!-- BEGIN GENERATED x -->\n<!-- END GENERATED x -->\n", err: "found 2 and 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replaceRegion([]byte(tc.doc), "x", "new\n")
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
		})
	}
}
