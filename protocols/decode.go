package protocols

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/twinrig/twinrig/internal/yamldoc"
)

// LoadExperiment reads and validates the protocol file at path, of format
// version 1 or 2 (see ParseExperiment).
func LoadExperiment(path string) (*Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	return ParseExperiment(path, data)
}

// ParseExperiment validates a protocol read from the file named name. A
// version 1 file is parsed by Parse and converted by FromProtocol; a
// version 2 file is checked in full, every problem reported at once as a
// *Problem (see Problems), sorted by position, each matching
// rig.ErrInvalid. Relative file paths in stimulus specifications are
// resolved against name's directory and must exist: ParseExperiment reads
// the file system for that, and nothing else. It is safe for concurrent
// use.
func ParseExperiment(name string, data []byte) (*Experiment, error) {
	docs, err := yamldoc.Parse(name, data)
	if err != nil {
		var p *yamldoc.Problem
		if errors.As(err, &p) {
			return nil, p
		}
		return nil, fmt.Errorf("protocol: parse %s: %w", name, err)
	}
	if len(docs) != 1 {
		return nil, &Problem{File: name, Line: 1, Column: 1,
			Msg: fmt.Sprintf("want exactly one YAML document holding a protocol, found %d", len(docs))}
	}
	d := newDecoder(name, data, docs[0])
	switch v := d.version(docs[0].Body); v {
	case 0:
		return nil, d.err()
	case Version:
		p, err := Parse(name, data)
		if err != nil {
			return nil, err
		}
		e := FromProtocol(p)
		d.locateVersion1(docs[0].Body, e)
		return e, nil
	}
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, fmt.Errorf("protocol: the directory of %s: %w", name, err)
	}
	e := &Experiment{File: name, Dir: dir, Version: ExperimentVersion}
	x := &experimentDecoder{decoder: d, e: e}
	x.decode(docs[0].Body)
	if err := d.err(); err != nil {
		return nil, err
	}
	return e, nil
}

// version reads the format version from the root mapping: 0 (reported)
// when it is missing, unsupported, or the root is not a mapping.
func (d *decoder) version(body ast.Node) int {
	r, _ := d.Resolve(body, "")
	m, ok := r.(*ast.MappingNode)
	if !ok {
		if r != nil {
			d.Addf(yamldoc.PosOf(r), "", "the file holds %s; want a mapping with version, name and blocks", yamldoc.Describe(r))
		}
		return 0
	}
	for _, e := range d.Entries(m, "") {
		if e.Key != "version" {
			continue
		}
		r, _ := d.Resolve(e.Value, "version")
		if r == nil {
			return 0
		}
		if v, isInt := yamldoc.Int(r); isInt && (v == Version || v == ExperimentVersion) {
			return int(v)
		}
		d.Addf(yamldoc.PosOf(e.Value), "version", "%s is not supported: this twinrig reads versions %d and %d", yamldoc.Describe(r), Version, ExperimentVersion)
		return 0
	}
	d.Addf(yamldoc.PosOf(m), "version", "missing: the protocol format version is required (this twinrig reads versions %d and %d)", Version, ExperimentVersion)
	return 0
}

// locateVersion1 records where each block's stimulus is written in a
// version 1 file (already validated by Parse), for CheckStimuli.
func (d *decoder) locateVersion1(body ast.Node, e *Experiment) {
	field := func(m ast.Node, key string) ast.Node {
		r, _ := d.Resolve(m, "")
		mm, ok := r.(*ast.MappingNode)
		if !ok {
			return nil
		}
		for _, en := range d.Entries(mm, "") {
			if en.Key == key {
				return en.Value
			}
		}
		return nil
	}
	r, _ := d.Resolve(field(body, "blocks"), "")
	seq, ok := r.(*ast.SequenceNode)
	if !ok {
		return
	}
	i := 0
	for _, s := range e.Stages {
		if s.Kind != KindPresent || i >= len(seq.Values) {
			continue
		}
		st := &s.Present.Trials[0].Stimulus
		st.field = yamldoc.Index("blocks", i) + ".stimulus"
		st.at = yamldoc.PosOf(field(seq.Values[i], "stimulus"))
		i++
	}
}

// experimentDecoder decodes a version 2 file into e.
type experimentDecoder struct {
	*decoder
	e      *Experiment
	stages []*stageInfo   // one per stage of e, in order
	byName map[string]int // the first stage of each name
}

// stageInfo is what the cross-block checks need to know about a stage
// beyond the Stage itself: where it is written and what it refers to.
type stageInfo struct {
	at        yamldoc.Pos // the kind key
	field     string      // "blocks[i].kind"
	nameAt    yamldoc.Pos
	from      []ref // adapt: from, as written
	fromGiven bool
	holdOut   []ref
	targets   *ref // select: neurons.from
	sel       *ref // verify: select
	controls  []ref
	duration  yamldoc.Pos // verify: where duration is (or the block)
	repeats   yamldoc.Pos // verify: where repeats is (or the block)
}

func (x *experimentDecoder) decode(body ast.Node) {
	root := x.object(body, "", yamldoc.Pos{Line: 1, Col: 1}, "the protocol", "version", "name", "description", "blank", "inter_trial", "blocks")
	e := x.e
	switch name, at, ok := x.str(root, "name", "a protocol name"); {
	case ok && !namePattern.MatchString(name):
		x.Addf(at, "name", "%q is not a valid name: want letters, digits, '_', '.', '-'", name)
	case ok:
		e.Name = name
	case !x.given(root, "name"):
		x.Addf(at, "name", "missing: a protocol name is required")
	}
	e.Description, _, _ = x.str(root, "description", "free text")
	e.Blank = Stimulus{Family: "blank", Spec: json.RawMessage(`{"family":"blank"}`)}
	if root.has("blank") {
		e.Blank = x.stimulus(root.vals["blank"].Value, "blank", root.keyPos("blank"))
	}
	e.InterTrial = x.duration(root, "inter_trial", 0, false, MaxInterTrial)

	items, at, ok := x.list(root, "blocks", "a list of blocks")
	if !ok || len(items) == 0 {
		if ok || !x.given(root, "blocks") {
			x.Addf(at, "blocks", "missing: a protocol needs at least one block")
		}
		return
	}
	seen := map[string]bool{}
	for i, item := range items {
		s, info := x.block(item, yamldoc.Index("blocks", i))
		if s == nil {
			continue
		}
		switch {
		case s.Name == "":
		case seen[s.Name]:
			x.Addf(info.nameAt, info.field+".name", "%q names another block too: block names must be unique", s.Name)
		default:
			seen[s.Name] = true
		}
		e.Stages = append(e.Stages, *s)
		x.stages = append(x.stages, info)
	}
	x.byName = map[string]int{}
	for i, s := range e.Stages {
		if _, dup := x.byName[s.Name]; !dup && s.Name != "" {
			x.byName[s.Name] = i
		}
	}
	x.checkReferences()
	if !x.Failed() {
		if d := e.Duration(); d > MaxDuration {
			x.Addf(at, "blocks", "the experiment lasts %s; at most %s", d, MaxDuration)
		}
	}
}

// block decodes one entry of the blocks list: a mapping with exactly one
// key, the kind. It returns nil when the entry is no block at all.
func (x *experimentDecoder) block(item ast.Node, field string) (*Stage, *stageInfo) {
	r, _ := x.Resolve(item, field)
	m, ok := r.(*ast.MappingNode)
	if !ok {
		if r != nil {
			x.Addf(yamldoc.PosOf(item), field, "got %s; want a block such as {present: {...}}", yamldoc.Describe(r))
		}
		return nil, nil
	}
	var found []yamldoc.Entry
	for _, e := range x.Entries(m, field) {
		if !slices.Contains(kinds, Kind(e.Key)) {
			x.Addf(e.At, yamldoc.Join(field, e.Key), "unknown block kind; want one of present, adapt, select, verify")
			continue
		}
		found = append(found, e)
	}
	switch {
	case len(found) == 0:
		if len(m.Values) == 0 {
			x.Addf(yamldoc.PosOf(item), field, "empty; want a block such as {present: {...}}")
		}
		return nil, nil
	case len(found) > 1:
		x.Addf(found[1].At, yamldoc.Join(field, found[1].Key), "a second kind in one block entry (%s and %s): write each block as its own list entry", found[0].Key, found[1].Key)
	}
	k := found[0]
	info := &stageInfo{at: k.At, field: yamldoc.Join(field, k.Key)}
	s := &Stage{Kind: Kind(k.Key)}
	var o *object
	switch s.Kind {
	case KindPresent:
		o = x.object(k.Value, info.field, k.At, "a present block", "name", "trials", "repeats", "order", "seed", "inter_trial", "model_reset")
		s.Present = x.present(o)
	case KindAdapt:
		o = x.object(k.Value, info.field, k.At, "an adapt block", "name", "from", "hold_out", "indicator_decay")
		s.Adapt = x.adapt(o, info)
	case KindSelect:
		o = x.object(k.Value, info.field, k.At, "a select block", "name", "neurons", "pool", "synthesise")
		s.Select = x.select_(o, info)
	case KindVerify:
		o = x.object(k.Value, info.field, k.At, "a verify block", "name", "select", "controls", "duration", "repeats", "order", "seed", "inter_trial", "alpha")
		s.Verify = x.verify(o, info)
	}
	s.Name, info.nameAt = x.blockName(o)
	return s, info
}

// blockName reads a block's required name.
func (x *experimentDecoder) blockName(o *object) (string, yamldoc.Pos) {
	name, at, ok := x.str(o, "name", "a block name")
	switch {
	case o.bad:
	case ok && !namePattern.MatchString(name):
		x.Addf(at, yamldoc.Join(o.field, "name"), "%q is not a valid block name: want letters, digits, '_', '.', '-'", name)
	case ok:
		return name, at
	case !x.given(o, "name"):
		x.Addf(at, yamldoc.Join(o.field, "name"), "missing: every block needs a name")
	}
	return "", at
}

// order reads an order field.
func (x *experimentDecoder) order(o *object, def Order) Order {
	s, at, ok := x.str(o, "order", "fixed or random")
	if !ok {
		return def
	}
	if s != string(OrderFixed) && s != string(OrderRandom) {
		x.Addf(at, yamldoc.Join(o.field, "order"), "%q is not an order: want fixed or random", s)
		return def
	}
	return Order(s)
}

// required reports a missing required key of o (unless o itself is bad).
func (x *experimentDecoder) required(o *object, key, what string) bool {
	if x.given(o, key) {
		return true
	}
	if !o.bad {
		x.Addf(o.keyPos(key), yamldoc.Join(o.field, key), "missing: %s", what)
	}
	return false
}

func (x *experimentDecoder) present(o *object) *PresentBlock {
	b := &PresentBlock{
		Repeats:    x.integer(o, "repeats", 1, 1, MaxRepeats),
		Order:      x.order(o, OrderFixed),
		Seed:       x.seed(o, "seed"),
		InterTrial: x.duration(o, "inter_trial", x.e.InterTrial, false, MaxInterTrial),
	}
	if s, at, ok := x.str(o, "model_reset", "trial or session"); ok {
		switch s {
		case "trial":
			b.ResetPerTrial = true
		case "session":
		default:
			x.Addf(at, yamldoc.Join(o.field, "model_reset"), "%q: want trial (reset the model's state before every trial) or session (the default: never within the session)", s)
		}
	}
	if !x.required(o, "trials", "want a list of trials, each {duration: 10s, stimulus: {family: ...}}") {
		return b
	}
	field := yamldoc.Join(o.field, "trials")
	items, at, ok := x.list(o, "trials", "a list of trials")
	if !ok {
		return b
	}
	if len(items) == 0 || len(items) > MaxTrials {
		x.Addf(at, field, "%d trials; want 1 to %d", len(items), MaxTrials)
		return b
	}
	for i, item := range items {
		f := yamldoc.Index(field, i)
		t := x.object(item, f, yamldoc.PosOf(item), "a trial", "duration", "stimulus")
		tr := Trial{Duration: x.duration(t, "duration", 0, true, MaxDuration)}
		if !x.given(t, "duration") && !t.bad {
			x.Addf(t.keyPos("duration"), yamldoc.Join(f, "duration"), "missing: want a duration such as 10s or 2m")
		}
		if x.required(t, "stimulus", "want a mapping with at least a family") {
			tr.Stimulus = x.stimulus(t.vals["stimulus"].Value, yamldoc.Join(f, "stimulus"), t.keyPos("stimulus"))
		}
		b.Trials = append(b.Trials, tr)
	}
	// One repeat lasts at most MaxTrials * (MaxDuration + MaxInterTrial),
	// which fits a Duration; all repeats may not.
	var once time.Duration
	for _, t := range b.Trials {
		once += t.Duration + b.InterTrial
	}
	switch n, d := len(b.Trials)*b.Repeats, once.Seconds()*float64(b.Repeats); {
	case n > MaxShown:
		x.Addf(o.valuePos("repeats"), yamldoc.Join(o.field, "repeats"), "%d repeats of %d trials show %d; at most %d", b.Repeats, len(b.Trials), n, MaxShown)
	case d > MaxDuration.Seconds():
		x.Addf(o.valuePos("repeats"), yamldoc.Join(o.field, "repeats"), "%d repeats of %d trials last %s; at most %s",
			b.Repeats, len(b.Trials), seconds(d), MaxDuration)
	}
	return b
}

// stimulus reads a stimulus specification: a mapping with a family, made
// JSON; "path" (a string) and "paths" (a list of strings) name files,
// relative to the protocol's directory, which must exist and are made
// absolute.
func (x *experimentDecoder) stimulus(n ast.Node, field string, at yamldoc.Pos) Stimulus {
	s := Stimulus{at: at, field: field}
	r, _ := x.Resolve(n, field)
	m, ok := r.(*ast.MappingNode)
	if !ok {
		if r != nil {
			x.Addf(yamldoc.PosOf(n), field, "got %s; want a mapping with at least a family", yamldoc.Describe(r))
		}
		return s
	}
	s.at = yamldoc.PosOf(n)
	var buf bytes.Buffer
	buf.WriteByte('{')
	good, hasFamily := true, false
	for i, e := range x.Entries(m, field) {
		if i > 0 {
			buf.WriteByte(',')
		}
		yamldoc.WriteJSONString(&buf, e.Key)
		buf.WriteByte(':')
		f := yamldoc.Join(field, e.Key)
		switch e.Key {
		case "family":
			hasFamily = true
			rv, isStr := x.Resolve(e.Value, f)
			fam, isText := yamldoc.Text(rv, isStr, false)
			if rv != nil && (!isText || fam == "") {
				x.Addf(yamldoc.PosOf(e.Value), f, "got %s; want the stimulus family as a string, e.g. natural", yamldoc.Describe(rv))
			}
			s.Family = fam
			yamldoc.WriteJSONString(&buf, fam)
		case "path":
			yamldoc.WriteJSONString(&buf, x.file(e.Value, f))
		case "paths":
			rv, _ := x.Resolve(e.Value, f)
			seq, isSeq := rv.(*ast.SequenceNode)
			if !isSeq || !x.Spend(len(seq.Values), yamldoc.PosOf(e.Value), f) {
				good = x.WriteJSON(&buf, e.Value, f) && good
				continue
			}
			buf.WriteByte('[')
			for j, item := range seq.Values {
				if j > 0 {
					buf.WriteByte(',')
				}
				yamldoc.WriteJSONString(&buf, x.file(item, yamldoc.Index(f, j)))
			}
			buf.WriteByte(']')
		default:
			good = x.WriteJSON(&buf, e.Value, f) && good
		}
	}
	buf.WriteByte('}')
	if s.Family == "" {
		if !hasFamily {
			x.Addf(s.at, yamldoc.Join(field, "family"), "missing: want the stimulus family as a string, e.g. natural")
		}
		return s
	}
	if good {
		s.Spec = json.RawMessage(buf.Bytes())
	}
	return s
}

// file reads a file path of a stimulus spec and returns it made absolute
// against the protocol's directory, reporting a path that does not exist.
func (x *experimentDecoder) file(n ast.Node, field string) string {
	r, isStr := x.Resolve(n, field)
	p, ok := yamldoc.Text(r, isStr, false)
	if !ok || p == "" {
		if r != nil {
			x.Addf(yamldoc.PosOf(n), field, "got %s; want a file path", yamldoc.Describe(r))
		}
		return p
	}
	abs := p
	if !filepath.IsAbs(p) {
		abs = filepath.Join(x.e.Dir, p)
	}
	switch _, err := os.Stat(abs); {
	case errors.Is(err, fs.ErrNotExist):
		x.Addf(yamldoc.PosOf(n), field, "%q does not exist (relative paths are relative to the protocol file)", p)
	case err != nil:
		x.Addf(yamldoc.PosOf(n), field, "%q cannot be read: %v", p, err)
	}
	return abs
}

func (x *experimentDecoder) adapt(o *object, info *stageInfo) *AdaptBlock {
	b := &AdaptBlock{IndicatorDecay: x.duration(o, "indicator_decay", 0, false, time.Minute)}
	info.from, info.fromGiven = x.refs(o, "from")
	if info.fromGiven && len(info.from) == 0 {
		x.Addf(o.keyPos("from"), yamldoc.Join(o.field, "from"), "empty: want the present blocks to fit on (or leave from out)")
	}
	info.holdOut, _ = x.refs(o, "hold_out")
	return b
}

// select_ decodes a select block (select is a keyword).
func (x *experimentDecoder) select_(o *object, info *stageInfo) *SelectBlock {
	b := &SelectBlock{}
	if x.required(o, "neurons", "want {best: N, by: cc_norm, from: BLOCK} or {ids: [...]}") {
		b.Neurons = x.targets(o, info)
	}
	if x.required(o, "pool", "want candidates to rank: one or more of natural, gabor, noise") {
		b.Pool = x.pool(o)
	}
	b.Synthesise = x.synthesis(o)
	return b
}

func (x *experimentDecoder) targets(parent *object, info *stageInfo) Targets {
	o := x.object(parent.vals["neurons"].Value, yamldoc.Join(parent.field, "neurons"), parent.keyPos("neurons"), "the target neurons", "best", "by", "from", "ids")
	t := Targets{By: ScoreCCNorm}
	if o.bad {
		return t
	}
	if o.has("ids") {
		for _, k := range []string{"best", "by", "from"} {
			if o.has(k) {
				x.Addf(o.keyPos(k), yamldoc.Join(o.field, k), "given with ids; want best (with by and from) or ids")
			}
		}
		field := yamldoc.Join(o.field, "ids")
		items, at, ok := x.list(o, "ids", "a list of neuron ids")
		if ok && (len(items) == 0 || len(items) > MaxTargets) {
			x.Addf(at, field, "%d ids; want 1 to %d", len(items), MaxTargets)
		}
		if !ok && x.isNull(o, "ids") {
			x.Addf(at, field, "empty; want a list of neuron ids")
		}
		seen := map[string]bool{}
		for i, item := range items {
			f := yamldoc.Index(field, i)
			r, isStr := x.Resolve(item, f)
			id, isText := yamldoc.Text(r, isStr, true)
			switch {
			case r == nil:
			case !isText || id == "":
				x.Addf(yamldoc.PosOf(item), f, "got %s; want a neuron id", yamldoc.Describe(r))
			case seen[id]:
				x.Addf(yamldoc.PosOf(item), f, "%q is listed twice", id)
			default:
				seen[id] = true
				t.IDs = append(t.IDs, id)
			}
		}
		return t
	}
	if !o.has("best") {
		x.Addf(o.at, o.field, "missing: want best (with by and from) or ids")
		return t
	}
	if !x.given(o, "best") {
		x.Addf(o.keyPos("best"), yamldoc.Join(o.field, "best"), "missing: want how many neurons to target, 1 to %d", MaxTargets)
	}
	t.Best = x.integer(o, "best", 0, 1, MaxTargets)
	if by, at, ok := x.str(o, "by", "cc_norm, cc_abs or r"); ok {
		switch Score(by) {
		case ScoreCCNorm, ScoreCCAbs, ScoreR:
			t.By = Score(by)
		default:
			x.Addf(at, yamldoc.Join(o.field, "by"), "%q is not a score: want cc_norm, cc_abs or r", by)
		}
	}
	from, at, ok := x.str(o, "from", "a block name")
	switch {
	case ok:
		t.From = from
		info.targets = &ref{name: from, at: at, field: yamldoc.Join(o.field, "from")}
	case !x.given(o, "from"):
		x.Addf(o.keyPos("from"), yamldoc.Join(o.field, "from"), "missing: want the present block the targets are scored on")
	}
	return t
}

func (x *experimentDecoder) pool(parent *object) Pool {
	o := x.object(parent.vals["pool"].Value, yamldoc.Join(parent.field, "pool"), parent.keyPos("pool"), "the candidate pool", "natural", "gabor", "noise", "keep")
	p := Pool{Keep: x.integer(o, "keep", 4, 1, MaxKeep)}
	if o.bad {
		return p
	}
	kind := func(key, what string, keys ...string) *object {
		if !o.has(key) {
			return nil
		}
		k := x.object(o.vals[key].Value, yamldoc.Join(o.field, key), o.keyPos(key), what, keys...)
		if k.bad {
			return nil
		}
		return k
	}
	if k := kind("natural", "natural clips", "clips", "duration", "seed"); k != nil {
		p.Natural = &NaturalPool{
			Clips:    x.integer(k, "clips", 200, 1, MaxPool),
			Duration: x.duration(k, "duration", time.Second, true, MaxShow),
			Seed:     x.seed(k, "seed"),
		}
	}
	if k := kind("gabor", "Gabor patches", "orientations", "cycles_per_width", "phases", "sigmas", "columns", "rows", "seed"); k != nil {
		p.Gabor = &GaborPool{
			Orientations:   x.integer(k, "orientations", 8, 1, 360),
			CyclesPerWidth: x.floats(k, "cycles_per_width", []float64{2.5, 4, 6.4}, 0, 100, 32),
			Phases:         x.integer(k, "phases", 2, 1, 64),
			Sigmas:         x.floats(k, "sigmas", []float64{0.4}, 0, 4, 16),
			Columns:        x.integer(k, "columns", 7, 1, 64),
			Rows:           x.integer(k, "rows", 4, 1, 64),
			Seed:           x.seed(k, "seed"),
		}
	}
	if k := kind("noise", "noise images", "count", "seed"); k != nil {
		p.Noise = &NoisePool{Count: x.integer(k, "count", 100, 1, MaxPool), Seed: x.seed(k, "seed")}
	}
	switch n := p.Size(); {
	case !o.has("natural") && !o.has("gabor") && !o.has("noise"):
		x.Addf(o.at, o.field, "empty: want at least one of natural, gabor, noise")
	case n > MaxPool:
		x.Addf(o.at, o.field, "%d candidates; at most %d", n, MaxPool)
	}
	return p
}

func (x *experimentDecoder) synthesis(parent *object) Synthesis {
	s := Synthesis{Images: 1, VideoDuration: time.Second, Contrast: 0.15, Mean: 128, Iterations: 20, Population: 16, Diversity: 0.5}
	if !parent.has("synthesise") {
		return s
	}
	o := x.object(parent.vals["synthesise"].Value, yamldoc.Join(parent.field, "synthesise"), parent.keyPos("synthesise"), "the synthesis settings",
		"images", "videos", "video_duration", "contrast", "mean", "iterations", "population", "diversity")
	s.Images = x.integer(o, "images", s.Images, 0, MaxMEIs)
	s.Videos = x.integer(o, "videos", s.Videos, 0, MaxMEIs)
	s.VideoDuration = x.duration(o, "video_duration", s.VideoDuration, true, MaxVideoDuration)
	s.Contrast = x.float(o, "contrast", s.Contrast, interval{lo: 0, hi: 0.5, openLo: true})
	s.Mean = x.float(o, "mean", s.Mean, interval{lo: 0, hi: 255})
	s.Iterations = x.integer(o, "iterations", s.Iterations, 1, MaxIterations)
	s.Population = x.integer(o, "population", s.Population, 2, MaxPopulation)
	s.Diversity = x.float(o, "diversity", s.Diversity, interval{lo: 0, hi: 100})
	switch n := s.MEIs(); {
	case o.bad:
	case n == 0:
		x.Addf(o.at, o.field, "images and videos are both 0: want at least one MEI per target")
	case n > MaxMEIs:
		x.Addf(o.at, o.field, "%d images and %d videos: at most %d MEIs per target", s.Images, s.Videos, MaxMEIs)
	}
	return s
}

func (x *experimentDecoder) verify(o *object, info *stageInfo) *VerifyBlock {
	b := &VerifyBlock{
		Duration:   x.duration(o, "duration", time.Second, true, MaxShow),
		Repeats:    x.integer(o, "repeats", 10, 1, MaxRepeats),
		Order:      x.order(o, OrderRandom),
		Seed:       x.seed(o, "seed"),
		InterTrial: x.duration(o, "inter_trial", x.e.InterTrial, false, MaxInterTrial),
		Alpha:      x.float(o, "alpha", DefaultAlpha, interval{lo: 0, hi: 0.5, openLo: true, openHi: true}),
	}
	info.duration, info.repeats = o.valuePos("duration"), o.valuePos("repeats")
	if sel, at, ok := x.str(o, "select", "the name of a select block"); ok {
		b.Select = sel
		info.sel = &ref{name: sel, at: at, field: yamldoc.Join(o.field, "select")}
	} else if !o.bad && !x.given(o, "select") {
		x.Addf(o.keyPos("select"), yamldoc.Join(o.field, "select"), "missing: want the select block whose MEIs are verified")
	}
	controls, given := x.refs(o, "controls")
	if given && len(controls) == 0 {
		x.Addf(o.keyPos("controls"), yamldoc.Join(o.field, "controls"), "empty: want one or more of best_natural, best_gabor, best_noise, blank")
	}
	for _, c := range controls {
		switch Control(c.name) {
		case ControlBestNatural, ControlBestGabor, ControlBestNoise, ControlBlank:
			b.Controls = append(b.Controls, Control(c.name))
			info.controls = append(info.controls, c)
		default:
			x.Addf(c.at, c.field, "%q is not a control: want best_natural, best_gabor, best_noise or blank", c.name)
		}
	}
	return b
}

// checkReferences checks what blocks say about each other.
func (x *experimentDecoder) checkReferences() {
	stages := x.e.Stages
	fitted := map[string]string{} // present block -> the adapt block fitting it
	lastAdapt := -1               // the latest adapt block so far
	var lastHeld []string         // the blocks it holds out
	for i := range stages {
		s, info := &stages[i], x.stages[i]
		switch s.Kind {
		case KindAdapt:
			lastAdapt = i
			held := map[string]bool{}
			for _, r := range info.holdOut {
				if j, ok := x.lookup(r, i, KindPresent); ok {
					held[r.name] = true
					if stages[j].Present.Repeats < 2 {
						x.Addf(r.at, r.field, "%q is shown once; a held-out block must repeat (repeats: 2 or more) to give CC_norm", r.name)
					}
				}
				s.Adapt.HoldOut = append(s.Adapt.HoldOut, r.name)
			}
			if info.fromGiven {
				for _, r := range info.from {
					if _, ok := x.lookup(r, i, KindPresent); ok && held[r.name] {
						x.Addf(r.at, r.field, "%q is also held out: a block is fitted or held out, not both", r.name)
					}
					s.Adapt.From = append(s.Adapt.From, r.name)
				}
			} else {
				for _, p := range stages[:i] {
					if p.Kind == KindPresent && p.Present.Repeats == 1 && !held[p.Name] && p.Name != "" {
						s.Adapt.From = append(s.Adapt.From, p.Name)
					}
				}
				if len(s.Adapt.From) == 0 {
					x.Addf(info.at, info.field+".from", "missing: no present block before it is shown once and not held out; name the blocks to fit on")
				}
			}
			for _, f := range s.Adapt.From {
				fitted[f] = s.Name
			}
			lastHeld = s.Adapt.HoldOut
		case KindSelect:
			if lastAdapt < 0 {
				x.Addf(info.at, info.field, "no adapt block before it: targets and MEIs need the model adapted to these neurons")
			}
			if r := info.targets; r != nil {
				if j, ok := x.lookup(*r, i, KindPresent); ok {
					by := s.Select.Neurons.By
					switch {
					case by.NeedsRepeats() && stages[j].Present.Repeats < 2:
						x.Addf(r.at, r.field, "%q is shown once; %s needs a repeated block (repeats: 2 or more)", r.name, by)
					case fitted[r.name] != "":
						x.Addf(r.at, r.field, "%q was fitted by adapt block %q; score targets on a held-out block", r.name, fitted[r.name])
					case j < lastAdapt && !slices.Contains(lastHeld, r.name):
						x.Addf(r.at, r.field, "%q is shown before adapt block %q, which does not hold it out: the adapted model never predicts it; hold it out there or score on a block shown after it",
							r.name, stages[lastAdapt].Name)
					}
				}
			}
		case KindVerify:
			if info.sel == nil {
				continue
			}
			j, ok := x.lookup(*info.sel, i, KindSelect)
			if !ok {
				continue
			}
			sel := stages[j].Select
			if len(s.Verify.Controls) == 0 && len(info.controls) == 0 {
				s.Verify.Controls = defaultControls(sel.Pool)
			}
			for _, c := range info.controls {
				if kind := poolKind(Control(c.name)); kind != "" && !hasKind(sel.Pool, kind) {
					x.Addf(c.at, c.field, "%s needs %s candidates in the pool of select block %q", c.name, kind, info.sel.name)
				}
			}
			v := s.Verify
			perRepeat := v.TrialsPerRepeat(sel.Neurons.Count(), sel.Synthesise.MEIs())
			switch n := perRepeat * v.Repeats; {
			case n > MaxShown:
				x.Addf(info.repeats, info.field+".repeats", "%d repeats of %d stimuli show %d; at most %d", v.Repeats, perRepeat, n, MaxShown)
			case time.Duration(n)*(v.Duration+v.InterTrial) > MaxDuration: // no overflow below MaxShown
				x.Addf(info.repeats, info.field+".repeats", "%d repeats of %d stimuli last %s; at most %s",
					v.Repeats, perRepeat, time.Duration(n)*(v.Duration+v.InterTrial), MaxDuration)
			}
			if sel.Synthesise.Videos > 0 && sel.Synthesise.VideoDuration > s.Verify.Duration {
				x.Addf(info.duration, info.field+".duration", "%s is shorter than the video MEIs of select block %q (%s)",
					s.Verify.Duration, info.sel.name, sel.Synthesise.VideoDuration)
			}
		}
	}
}

// lookup resolves a reference from stage i to a block of kind want shown
// before it, reporting what is wrong.
func (x *experimentDecoder) lookup(r ref, i int, want Kind) (int, bool) {
	j, found := x.byName[r.name]
	switch {
	case !found:
		x.Addf(r.at, r.field, "%q names no block", r.name)
	case x.e.Stages[j].Kind != want:
		x.Addf(r.at, r.field, "%q is %s block; want %s block", r.name, article(x.e.Stages[j].Kind), article(want))
	case j == i:
		x.Addf(r.at, r.field, "%q names this block; want %s block before it", r.name, article(want))
	case j > i:
		x.Addf(r.at, r.field, "%q comes after this block; want %s block before it", r.name, article(want))
	default:
		return j, true
	}
	return j, false
}

// poolKind returns the pool kind a control comes from ("" for blank).
func poolKind(c Control) string {
	kind, _ := strings.CutPrefix(string(c), "best_")
	if kind == string(c) {
		return ""
	}
	return kind
}

func hasKind(p Pool, kind string) bool {
	switch kind {
	case "natural":
		return p.Natural != nil
	case "gabor":
		return p.Gabor != nil
	case "noise":
		return p.Noise != nil
	}
	return false
}

// defaultControls are the best candidate of each kind in the pool, then
// blank.
func defaultControls(p Pool) []Control {
	var out []Control
	for _, c := range []Control{ControlBestNatural, ControlBestGabor, ControlBestNoise} {
		if hasKind(p, poolKind(c)) {
			out = append(out, c)
		}
	}
	return append(out, ControlBlank)
}

// article returns "a present", "an adapt", ...
func article(k Kind) string {
	if k == KindAdapt {
		return "an " + string(k)
	}
	return "a " + string(k)
}

// seconds formats a span of s seconds that may not fit a Duration.
func seconds(s float64) string {
	if s < float64(math.MaxInt64)/float64(time.Second) {
		return time.Duration(s * float64(time.Second)).String()
	}
	return fmt.Sprintf("%.3gh", s/3600)
}
