// Command mqttdoc writes the generated parts of docs/mqtt.md from package
// host/events: the topic table and, for every kind the host publishes, its
// payload's fields (from the payload types' json tags), their JSON types,
// their meaning (from the fields' doc comments) and an example message.
// The rest of the page is written by hand.
//
// Run it through go generate in host/events:
//
//	go generate ./host/events
//
// It replaces the text between the markers
//
//	<!-- BEGIN GENERATED name ... -->
//	<!-- END GENERATED name -->
//
// for name topics and payloads, and leaves the file alone when nothing
// changed. Its test fails when the committed page differs from what it
// would write.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/twinrig/twinrig/host/events"
)

func main() {
	eventsDir := flag.String("events", ".", "the directory of package host/events")
	docPath := flag.String("doc", filepath.Join("..", "..", "docs", "mqtt.md"), "the page to update")
	flag.Parse()
	if err := run(*eventsDir, *docPath); err != nil {
		fmt.Fprintf(os.Stderr, "mqttdoc: %v\n", err)
		os.Exit(1)
	}
}

// run updates the page at docPath from the package in eventsDir.
func run(eventsDir, docPath string) error {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		return fmt.Errorf("reading the page: %w", err)
	}
	out, err := generate(eventsDir, doc)
	if err != nil {
		return fmt.Errorf("%s: %w", docPath, err)
	}
	if bytes.Equal(out, doc) {
		return nil
	}
	if err := os.WriteFile(docPath, out, 0o644); err != nil {
		return fmt.Errorf("writing the page: %w", err)
	}
	return nil
}

// generate returns doc with its generated regions written anew from the
// package in eventsDir.
func generate(eventsDir string, doc []byte) ([]byte, error) {
	src, err := parseDocs(eventsDir)
	if err != nil {
		return nil, err
	}
	topics, err := renderTopics(src)
	if err != nil {
		return nil, err
	}
	payloads, err := renderPayloads(src)
	if err != nil {
		return nil, err
	}
	if doc, err = replaceRegion(doc, "topics", topics); err != nil {
		return nil, err
	}
	return replaceRegion(doc, "payloads", payloads)
}

// replaceRegion replaces the lines between the markers of region name.
func replaceRegion(doc []byte, name, content string) ([]byte, error) {
	begin := regexp.MustCompile(`(?m)^<!-- BEGIN GENERATED ` + regexp.QuoteMeta(name) + `\b.*-->\n`)
	end := regexp.MustCompile(`(?m)^<!-- END GENERATED ` + regexp.QuoteMeta(name) + ` -->$`)
	b := begin.FindAllIndex(doc, -1)
	e := end.FindAllIndex(doc, -1)
	if len(b) != 1 || len(e) != 1 || e[0][0] < b[0][1] {
		return nil, fmt.Errorf("expected one %q and, after it, one %q line; found %d and %d",
			"<!-- BEGIN GENERATED "+name+" ... -->", "<!-- END GENERATED "+name+" -->", len(b), len(e))
	}
	out := make([]byte, 0, len(doc)+len(content))
	out = append(out, doc[:b[0][1]]...)
	out = append(out, content...)
	return append(out, doc[e[0][0]:]...), nil
}

// sourceDocs holds the doc comments of a package's declarations.
type sourceDocs struct {
	// types maps a type's name to its doc comment.
	types map[string]string
	// fields maps a struct type's name to its fields' doc comments, by
	// field name (an embedded field by its type's name).
	fields map[string]map[string]string
	// consts maps a typed string constant's type and value (unquoted) to
	// its name and doc comment.
	consts map[[2]string][2]string
}

// parseDocs reads the doc comments of the Go files (tests excluded) in
// dir.
func parseDocs(dir string) (*sourceDocs, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parsing: %w", err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no Go files in %s", dir)
	}
	return collectDocs(files), nil
}

// collectDocs gathers the doc comments of files' declarations.
func collectDocs(files []*ast.File) *sourceDocs {
	d := &sourceDocs{types: map[string]string{}, fields: map[string]map[string]string{}, consts: map[[2]string][2]string{}}
	for _, f := range files {
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range g.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					doc := s.Doc
					if doc == nil && len(g.Specs) == 1 {
						doc = g.Doc
					}
					d.types[s.Name.Name] = text(doc)
					if st, ok := s.Type.(*ast.StructType); ok {
						d.fields[s.Name.Name] = fieldDocs(st)
					}
				case *ast.ValueSpec:
					typ, ok := s.Type.(*ast.Ident)
					if g.Tok != token.CONST || !ok || len(s.Names) != 1 || len(s.Values) != 1 {
						continue
					}
					lit, ok := s.Values[0].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					if v, err := strconv.Unquote(lit.Value); err == nil {
						d.consts[[2]string{typ.Name, v}] = [2]string{s.Names[0].Name, text(s.Doc)}
					}
				}
			}
		}
	}
	return d
}

// fieldDocs returns the doc comments of a struct's fields by name; a
// comment above several names (A, B int) documents each.
func fieldDocs(st *ast.StructType) map[string]string {
	out := map[string]string{}
	for _, f := range st.Fields.List {
		doc := f.Doc
		if doc == nil {
			doc = f.Comment
		}
		if len(f.Names) == 0 { // embedded: by its type's name
			t := f.Type
			if star, ok := t.(*ast.StarExpr); ok {
				t = star.X
			}
			if id, ok := t.(*ast.Ident); ok {
				out[id.Name] = text(doc)
			}
			continue
		}
		for _, n := range f.Names {
			out[n.Name] = text(doc)
		}
	}
	return out
}

var docLink = regexp.MustCompile(`\[([A-Z]\w*(?:\.\w+)*)\]`)

// text returns a comment as one line of Markdown: its lines joined, doc
// links ([Name]) as code, '|' escaped for tables.
func text(c *ast.CommentGroup) string {
	if c == nil {
		return ""
	}
	s := strings.Join(strings.Fields(c.Text()), " ")
	s = docLink.ReplaceAllString(s, "`$1`")
	return strings.ReplaceAll(s, "|", `\|`)
}

// sessionTopic is the topic of a session's events of kind k.
func sessionTopic(k events.Kind) string {
	return "`" + events.Topic("<rig>", "<session>", k) + "`"
}

// kindSummary returns what the topic table says of kind k: the doc comment
// of its constant, less the "KindX: " it starts with.
func kindSummary(src *sourceDocs, k events.Kind) (string, error) {
	c, ok := src.consts[[2]string{"Kind", string(k)}]
	if !ok {
		return "", fmt.Errorf("kind %q: no constant declares it", k)
	}
	summary, ok := strings.CutPrefix(c[1], c[0]+": ")
	if !ok || summary == "" {
		return "", fmt.Errorf("kind %q: the doc comment of %s must read %q", k, c[0], c[0]+": what an event of the kind reports.")
	}
	return strings.TrimSuffix(summary, "."), nil
}

// kindList writes kinds as `a`, `b` or `c`.
func kindList(kinds []events.Kind) string {
	quoted := make([]string, len(kinds))
	for i, k := range kinds {
		quoted[i] = "`" + string(k) + "`"
	}
	if len(quoted) < 2 {
		return strings.Join(quoted, "")
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
}

// renderTopics writes the topic table.
func renderTopics(src *sourceDocs) (string, error) {
	var b strings.Builder
	b.WriteString("| topic | retained | QoS | what |\n|---|---|---|---|\n")
	for _, k := range events.Kinds {
		summary, err := kindSummary(src, k)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "| %s | no | `mqtt.qos` | %s |\n", sessionTopic(k), summary)
	}
	fmt.Fprintf(&b, "| `%s` | **yes** | `mqtt.qos` | a copy of the rig's latest %s message |\n",
		events.StatusTopic("<rig>"), kindList(events.StatusKinds))
	fmt.Fprintf(&b, "| `%s` | no | the client's | **clients publish here**: pause, resume or abort the running session (the host subscribes at `mqtt.qos`) |\n",
		events.ControlTopic("<rig>"))
	return b.String(), nil
}

// renderPayloads writes the envelope table and a section per kind.
func renderPayloads(src *sourceDocs) (string, error) {
	var b strings.Builder
	b.WriteString(`Every payload is one JSON object (UTF-8). It always carries these envelope
fields:

| field | type | meaning |
|---|---|---|
`)
	fmt.Fprintf(&b, "| `schema` | integer | payload layout version, `%d`. Fields may be added within a version; removing or changing one bumps it. Reject versions you do not know. |\n", events.SchemaVersion)
	fmt.Fprintf(&b, "| `kind` | string | the last topic level: %s |\n", kindList(events.Kinds))
	b.WriteString("| `rig` | string | the rig name |\n")
	b.WriteString("| `session` | string | the session id |\n")
	b.WriteString("| `time` | string | when it happened, wall clock, RFC 3339 in UTC with nanoseconds, e.g. `" + exampleTime(0) + "` |\n")
	b.WriteString("| `seq` | integer | the session's event number: 1 for its first event, then 2, 3, ... with no gaps, across all its kinds. Use it to check order and to spot lost or repeated messages. |\n")
	b.WriteString(`
and beside them the fields of its kind, below. Ignore fields you do not know;
a field marked optional is absent when it does not apply. Fields in seconds
of *session time* count from the session's start: on the virtual clock it
advances exactly one frame period per frame, however fast the machine runs;
on the real clock it is wall time since the start. A ` + "`number or null`" + ` is
null where the value is undefined (NaN in Go).
`)
	examples := examples()
	for i, k := range events.Kinds {
		p, ok := examples[k]
		if !ok {
			return "", fmt.Errorf("kind %q has no example: add one to examples", k)
		}
		if p.Kind() != k {
			return "", fmt.Errorf("the example of kind %q is a %T, of kind %q", k, p, p.Kind())
		}
		section, err := renderKind(src, p, i+1)
		if err != nil {
			return "", err
		}
		b.WriteString("\n" + section)
	}
	return b.String(), nil
}

// renderKind writes the section of p's kind, with p as its example, the
// seq-th event of the example session.
func renderKind(src *sourceDocs, p events.Payload, seq int) (string, error) {
	t := reflect.TypeOf(p)
	k := p.Kind()
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", k)
	where := fmt.Sprintf("Topic %s, not retained", sessionTopic(k))
	for _, s := range events.StatusKinds {
		if s == k {
			where += fmt.Sprintf(" (a copy is retained on `%s`)", events.StatusTopic("<rig>"))
		}
	}
	fmt.Fprintf(&b, "%s. Go type `events.%s`.\n\n", where, t.Name())
	doc := src.types[t.Name()]
	if doc == "" {
		return "", fmt.Errorf("type %s has no doc comment", t.Name())
	}
	b.WriteString(doc + "\n\n")
	rows, notes, err := fieldRows(src, t, "", false)
	if err != nil {
		return "", err
	}
	b.WriteString("| field | type | meaning |\n|---|---|---|\n")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	for _, n := range notes {
		b.WriteString("\n" + n + "\n")
	}
	example, err := exampleMessage(p, seq)
	if err != nil {
		return "", err
	}
	b.WriteString("\n```json\n" + example + "\n```\n")
	return b.String(), nil
}

var (
	nullFloat  = reflect.TypeFor[events.NullFloat]()
	nullFloats = reflect.TypeFor[events.NullFloats]()
	rawJSON    = reflect.TypeFor[[]byte]()
)

// jsonType names the JSON type of values of t.
func jsonType(t reflect.Type) (string, error) {
	switch {
	case t == nullFloat:
		return "number or null", nil
	case t == nullFloats:
		return "array of numbers and nulls", nil
	case t.Name() == "RawMessage" && t.ConvertibleTo(rawJSON):
		return "object", nil
	}
	switch t.Kind() {
	case reflect.String:
		return "string", nil
	case reflect.Bool:
		return "boolean", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer", nil
	case reflect.Float32, reflect.Float64:
		return "number", nil
	case reflect.Struct:
		return "object", nil
	case reflect.Slice:
		elem, err := jsonType(t.Elem())
		if err != nil {
			return "", err
		}
		return "array of " + elem + "s", nil
	}
	return "", fmt.Errorf("%v: no JSON type for a Go %v; teach jsonType", t, t.Kind())
}

// fieldRows writes a table row per JSON field of struct type t, nested
// structs' fields after their own row as parent.child; optional marks
// every row optional. notes say when groups of optional fields (embedded
// struct pointers) are present.
func fieldRows(src *sourceDocs, t reflect.Type, prefix string, optional bool) (rows, notes []string, err error) {
	docs := src.fields[t.Name()]
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		doc := docs[f.Name]
		if doc == "" {
			return nil, nil, fmt.Errorf("%s.%s has no doc comment", t.Name(), f.Name)
		}
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() != reflect.Struct {
				return nil, nil, fmt.Errorf("%s.%s: an embedded field must be a struct or a pointer to one", t.Name(), f.Name)
			}
			r, n, err := fieldRows(src, ft, prefix, optional || f.Type.Kind() == reflect.Pointer)
			if err != nil {
				return nil, nil, err
			}
			rows = append(rows, r...)
			notes = append(notes, n...)
			if f.Type.Kind() == reflect.Pointer {
				var names []string
				for _, row := range r {
					names = append(names, strings.Split(row, " | ")[0][2:])
				}
				notes = append(notes, strings.Join(names, ", ")+": "+doc)
			}
			continue
		}
		if name == "" {
			return nil, nil, fmt.Errorf("%s.%s has no json name", t.Name(), f.Name)
		}
		typ, err := jsonType(ft)
		if err != nil {
			return nil, nil, fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
		}
		if optional || strings.Contains(","+opts+",", ",omitempty,") {
			typ += ", optional"
		}
		rows = append(rows, fmt.Sprintf("| `%s%s` | %s | %s |", prefix, name, typ, doc))
		if ft.Kind() == reflect.Struct && strings.HasPrefix(typ, "object") && ft.Name() != "" && src.fields[ft.Name()] != nil {
			r, n, err := fieldRows(src, ft, prefix+name+".", optional)
			if err != nil {
				return nil, nil, err
			}
			rows = append(rows, r...)
			notes = append(notes, n...)
		}
	}
	if len(rows) == 0 {
		return nil, nil, errors.New(t.Name() + " has no JSON fields")
	}
	return rows, notes, nil
}
