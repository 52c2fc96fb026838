package protocols

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/twinrig/twinrig/rig"
)

// Version is the protocol format version this package reads.
const Version = 1

// MaxDuration bounds one block (a day), to catch unit typos early.
const MaxDuration = 24 * time.Hour

// Protocol is a parsed, validated protocol file.
type Protocol struct {
	// File is the name the protocol was loaded under.
	File        string
	Version     int
	Name        string
	Description string
	Blocks      []Block
}

// MaxRepeats bounds a block's repeats.
const MaxRepeats = 10000

// Block is one stretch of stimulus, shown Repeats times in a row.
type Block struct {
	Name     string
	Duration time.Duration
	// Repeats is how many times the block is shown (at least 1): the same
	// specification and seed, so the same frames. Repeated blocks are the
	// test clips of the trial-averaged accuracy measures.
	Repeats int
	// Stimulus is the stimulus specification as a JSON object.
	Stimulus json.RawMessage
	// Adapt, when set, fits the model's readout to the recorded neurons
	// after this block, on every scan recorded so far outside repeated
	// blocks (those are held out for evaluation).
	Adapt *Adapt
}

// Adapt configures a readout fit.
type Adapt struct {
	// IndicatorDecay is the calcium indicator's decay time constant (e.g.
	// 1.25s for GCaMP6s): the readout then predicts the indicator's signal.
	// Zero: the readout predicts the responses as they are.
	IndicatorDecay time.Duration
}

// Adapts reports whether any block adapts the model.
func (p *Protocol) Adapts() bool {
	for _, b := range p.Blocks {
		if b.Adapt != nil {
			return true
		}
	}
	return false
}

// Duration returns the protocol's total duration, repeats included.
func (p *Protocol) Duration() time.Duration {
	var d time.Duration
	for _, b := range p.Blocks {
		d += b.Duration * time.Duration(max(b.Repeats, 1))
	}
	return d
}

// rawProtocol mirrors the file.
type rawProtocol struct {
	Version     *int       `yaml:"version"`
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Blocks      []rawBlock `yaml:"blocks"`
}

type rawAdapt struct {
	IndicatorDecay string `yaml:"indicator_decay"`
}

type rawBlock struct {
	Name     string         `yaml:"name"`
	Duration string         `yaml:"duration"`
	Repeats  *int           `yaml:"repeats"`
	Adapt    *rawAdapt      `yaml:"adapt"`
	Stimulus map[string]any `yaml:"stimulus"`
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Load reads and validates the protocol file at path.
func Load(path string) (*Protocol, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	return Parse(path, data)
}

// Parse validates a protocol read from the file named name. Every problem is
// reported at once (errors.Join), each as "name:line:col: field: what is
// wrong"; each wraps rig.ErrInvalid.
func Parse(name string, data []byte) (*Protocol, error) {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlProblem(name, err)
	}
	if len(file.Docs) != 1 || file.Docs[0].Body == nil {
		return nil, fmt.Errorf("%s: want exactly one YAML document holding a protocol, found %d: %w", name, countDocs(file), rig.ErrInvalid)
	}
	var raw rawProtocol
	if err := yaml.NodeToValue(file.Docs[0].Body, &raw, yaml.DisallowUnknownField()); err != nil {
		return nil, yamlProblem(name, err)
	}
	v := validator{name: name, file: file}
	p := &Protocol{File: name, Name: raw.Name, Description: raw.Description}
	switch {
	case raw.Version == nil:
		v.addf("$", "version", "missing: the protocol format version is required (this twinrig reads version %d)", Version)
	case *raw.Version != Version:
		v.addf("$.version", "version", "%d is not supported: this twinrig reads version %d", *raw.Version, Version)
	default:
		p.Version = *raw.Version
	}
	if !namePattern.MatchString(raw.Name) {
		v.addf("$.name", "name", "%q is not a valid name: want letters, digits, '_', '.', '-'", raw.Name)
	}
	if len(raw.Blocks) == 0 {
		v.addf("$.blocks", "blocks", "missing: a protocol needs at least one block")
	}
	seen := map[string]bool{}
	for i, b := range raw.Blocks {
		path := fmt.Sprintf("$.blocks[%d]", i)
		field := fmt.Sprintf("blocks[%d]", i)
		switch {
		case !namePattern.MatchString(b.Name):
			v.addf(path+".name", field+".name", "%q is not a valid block name: want letters, digits, '_', '.', '-'", b.Name)
		case seen[b.Name]:
			v.addf(path+".name", field+".name", "%q names another block too: block names must be unique", b.Name)
		}
		seen[b.Name] = true
		d, err := time.ParseDuration(b.Duration)
		switch {
		case b.Duration == "":
			v.addf(path, field+".duration", "missing: want a duration such as 60s or 2m")
			d = 0
		case err != nil:
			v.addf(path+".duration", field+".duration", "%q is not a duration: want e.g. 60s, 1m30s", b.Duration)
		case d <= 0 || d > MaxDuration:
			v.addf(path+".duration", field+".duration", "%s out of range: want more than 0 and at most %s", d, MaxDuration)
		}
		repeats := 1
		if b.Repeats != nil {
			repeats = *b.Repeats
			if repeats < 1 || repeats > MaxRepeats {
				v.addf(path+".repeats", field+".repeats", "%d out of range: want 1 to %d", repeats, MaxRepeats)
			}
		}
		var adaptCfg *Adapt
		if b.Adapt != nil {
			adaptCfg = &Adapt{}
			if b.Adapt.IndicatorDecay != "" {
				d, err := time.ParseDuration(b.Adapt.IndicatorDecay)
				if err != nil || d < 0 || d > time.Minute {
					v.addf(path+".adapt.indicator_decay", field+".adapt.indicator_decay", "%q: want a duration in [0, 1m] such as 1.25s", b.Adapt.IndicatorDecay)
				}
				adaptCfg.IndicatorDecay = d
			}
		}
		var spec json.RawMessage
		if b.Stimulus == nil {
			v.addf(path, field+".stimulus", "missing: want a mapping with at least a family")
		} else if fam, ok := b.Stimulus["family"].(string); !ok || fam == "" {
			v.addf(path+".stimulus", field+".stimulus.family", "missing: want the stimulus family as a string, e.g. grating")
		} else if spec, err = json.Marshal(b.Stimulus); err != nil {
			v.addf(path+".stimulus", field+".stimulus", "cannot be expressed as JSON: %v", err)
		}
		p.Blocks = append(p.Blocks, Block{Name: b.Name, Duration: d, Repeats: repeats, Stimulus: spec, Adapt: adaptCfg})
	}
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return p, nil
}

// Frames returns how many display frames a block lasts at rateHz, rounded to
// the nearest whole frame (at least one).
func (b Block) Frames(rateHz float64) int {
	n := int(b.Duration.Seconds()*rateHz + 0.5)
	return max(n, 1)
}

type validator struct {
	name string
	file *ast.File
	errs []error
}

// addf records a problem at the node the YAML path points to, or at the
// start of the enclosing mapping when that node is absent.
func (v *validator) addf(path, field, format string, args ...any) {
	line, col := 1, 1
	for p := path; p != ""; p = parentPath(p) {
		if n := v.node(p); n != nil {
			line, col = n.GetToken().Position.Line, n.GetToken().Position.Column
			break
		}
	}
	v.errs = append(v.errs, fmt.Errorf("%s:%d:%d: %s: %s: %w", v.name, line, col, field, fmt.Sprintf(format, args...), rig.ErrInvalid))
}

// node returns the node at a YAML path; for a mapping, its first key (whose
// position is where a reader looks), or nil.
func (v *validator) node(path string) ast.Node {
	p, err := yaml.PathString(path)
	if err != nil {
		return nil
	}
	n, err := p.FilterFile(v.file)
	if err != nil || n == nil {
		return nil
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	if n.GetToken() == nil || n.GetToken().Position == nil {
		return nil
	}
	return n
}

// parentPath returns the path one level up ("" above the root).
func parentPath(p string) string {
	if p == "$" {
		return ""
	}
	if i := strings.LastIndexAny(p, ".["); i > 0 {
		return p[:i]
	}
	return "$"
}

// yamlProblem formats a go-yaml error as "file:line:col: message".
func yamlProblem(name string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil && ye.GetToken().Position != nil {
		pos := ye.GetToken().Position
		msg := strings.TrimSpace(ye.GetMessage())
		return fmt.Errorf("%s:%d:%d: %s: %w", name, pos.Line, pos.Column, msg, rig.ErrInvalid)
	}
	return fmt.Errorf("%s: %v: %w", name, err, rig.ErrInvalid)
}

func countDocs(f *ast.File) int {
	n := 0
	for _, d := range f.Docs {
		if d.Body != nil {
			n++
		}
	}
	return n
}
