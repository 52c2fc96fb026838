package record

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/twinrig/twinrig/host/events"
)

// Attempt is one attempt of a session, as its record holds it: the
// session's first start of the plugins (attempt 0), or a restart or
// resumption.
type Attempt struct {
	Attempt int `json:"attempt"`
	// Why says why it started: "start", "restart of <plugin>", "restart"
	// or "resume".
	Why string `json:"why"`
	// Blocks are the blocks it started (its block events), in order.
	Blocks []string `json:"blocks"`
	// The rows it recorded: frames shown (and of them dropped), scans,
	// predictions.
	Frames      int `json:"frames_shown"`
	Dropped     int `json:"frames_dropped"`
	Scans       int `json:"scans"`
	Predictions int `json:"predictions"`
}

// Tally is a session's record counted over all its attempts and per
// attempt.
type Tally struct {
	Frames, Dropped, Scans, Predictions int
	Attempts                            []Attempt
}

// Violation is one way a record breaks its invariants: where (a file of
// the session directory and a line, from 1; 0: the whole file) and what.
type Violation struct {
	File string
	Line int
	What string
}

func (v Violation) String() string {
	if v.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", v.File, v.Line, v.What)
	}
	return fmt.Sprintf("%s: %s", v.File, v.What)
}

// maxViolations is how many violations of one file are listed; the rest
// are counted.
const maxViolations = 1000

// ReadTally counts the session record in dir by attempt: the attempts
// from its journal (journal.jsonl), the rows of each from its CSV files.
// Rows of an earlier version's files, which carry no attempt, count as
// attempt 0. It does not check the record (Check does).
func ReadTally(dir string) (*Tally, error) {
	in, err := inspect(dir, false)
	if err != nil {
		return nil, err
	}
	return in.tally(), nil
}

// Check verifies the invariants of the session record in dir and returns
// its tally and every violation (none: a whole record). Within each
// attempt there is one row per frame, scan and prediction step (no
// duplicates), and times do not go back; a prediction's step never
// repeats in the session; every CSV row has its header's columns and
// parses; the journal parses line by line; its stage entries agree with
// the CSV files (the frames and scans each attempt counted); summary.json
// and the last finished entry count what the CSV files hold; and the
// SHA-256 the journal records of the protocol, the config and the
// readouts are those of the files. The error is for a directory that
// cannot be read as a session record at all.
func Check(dir string) (*Tally, []Violation, error) {
	in, err := inspect(dir, true)
	if err != nil {
		return nil, nil, err
	}
	in.crossCheck()
	in.checkSummary()
	in.checkHashes()
	return in.tally(), in.violations(), nil
}

// csvKind is one of the record's CSV files.
type csvKind int

const (
	framesCSV csvKind = iota
	predictionsCSV
	scansCSV
)

var csvNames = [...]string{"frames.csv", "predictions.csv", "scans.csv"}

// csvColumns are a CSV file's columns after the attempt, before the
// neurons' (n0, n1, ...; none in frames.csv).
var csvColumns = [...][]string{
	{"index", "time_s", "dropped"},
	{"step", "time_s"},
	{"index", "time_s", "source_time_s", "host_unix_s", "pupil_x", "pupil_y", "pupil_radius", "treadmill"},
}

// counts are the rows of one attempt.
type counts struct {
	frames, dropped, scans, predictions int
}

// stageEntry is a stage_done entry with its line and attempt.
type stageEntry struct {
	line, attempt int
	done          events.StageDone
}

// inspection is what reading a record found.
type inspection struct {
	dir  string
	full bool
	// found holds the violations by file, in the order found.
	found map[string][]Violation
	more  map[string]int
	files []string

	journal journalInfo
	rows    map[int]*counts
	// marked: the CSV file carries the attempt column.
	marked [3]bool
}

// journalInfo is what the journal holds.
type journalInfo struct {
	session      *events.SessionEntry
	attempts     []Attempt
	stages       []stageEntry
	finished     *events.Finished
	finishedLine int
	finishedAtt  int
}

func newInspection(dir string, full bool) *inspection {
	return &inspection{dir: dir, full: full, found: map[string][]Violation{}, more: map[string]int{}, rows: map[int]*counts{}}
}

// inspect reads the journal and the CSV files of the record in dir.
func inspect(dir string, full bool) (*inspection, error) {
	in := newInspection(dir, full)
	f, err := os.Open(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a session record: %w", dir, err)
	}
	in.journal = in.readJournal(f)
	f.Close()
	for k := range csvNames {
		f, err := os.Open(filepath.Join(dir, csvNames[k]))
		if errors.Is(err, os.ErrNotExist) {
			in.add(csvNames[k], 0, "missing")
			continue
		}
		if err != nil {
			return nil, err
		}
		err = in.readCSV(csvKind(k), f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
	}
	return in, nil
}

func (in *inspection) add(file string, line int, format string, args ...any) {
	if _, ok := in.found[file]; !ok {
		in.files = append(in.files, file)
		in.found[file] = nil
	}
	if len(in.found[file]) >= maxViolations {
		in.more[file]++
		return
	}
	in.found[file] = append(in.found[file], Violation{File: file, Line: line, What: fmt.Sprintf(format, args...)})
}

func (in *inspection) violations() []Violation {
	var out []Violation
	for _, f := range in.files {
		out = append(out, in.found[f]...)
		if n := in.more[f]; n > 0 {
			out = append(out, Violation{File: f, What: fmt.Sprintf("%d more violations not listed", n)})
		}
	}
	return out
}

func (in *inspection) count(attempt int) *counts {
	c := in.rows[attempt]
	if c == nil {
		c = &counts{}
		in.rows[attempt] = c
	}
	return c
}

// tally returns the counts by attempt: the journal's attempts, and any
// attempt only the CSV files name.
func (in *inspection) tally() *Tally {
	t := &Tally{}
	atts := append([]Attempt(nil), in.journal.attempts...)
	for a := range in.rows {
		for len(atts) <= a {
			atts = append(atts, Attempt{Attempt: len(atts), Why: "unknown"})
		}
	}
	for i := range atts {
		if c := in.rows[atts[i].Attempt]; c != nil {
			atts[i].Frames, atts[i].Dropped, atts[i].Scans, atts[i].Predictions = c.frames, c.dropped, c.scans, c.predictions
		}
		if atts[i].Blocks == nil {
			atts[i].Blocks = []string{}
		}
		t.Frames += atts[i].Frames
		t.Dropped += atts[i].Dropped
		t.Scans += atts[i].Scans
		t.Predictions += atts[i].Predictions
	}
	t.Attempts = atts
	return t
}

// eachLine calls fn with every line of r (without its newline) and its
// number, from 1; torn is set on a last line without a newline.
func eachLine(r io.Reader, fn func(n int, line []byte, torn bool)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	for n := 1; ; {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if err != nil { // EOF
			if len(line) > 0 {
				fn(n, line, true)
			}
			return nil
		}
		fn(n, line[:len(line)-1], false)
		n++
	}
}

// readJournal reads the journal, line by line.
func (in *inspection) readJournal(r io.Reader) journalInfo {
	const file = "journal.jsonl"
	var j journalInfo
	cur := -1
	legacy := false // attempts are not journaled (an earlier version)
	err := eachLine(r, func(n int, text []byte, torn bool) {
		if torn {
			in.add(file, n, "torn last line (no newline; a resume cuts it)")
			return
		}
		line, err := events.DecodeEntry(text)
		if err != nil {
			in.add(file, n, "not a journal entry: %v", err)
			return
		}
		switch e := line.Entry.(type) {
		case events.SessionEntry:
			if j.session != nil {
				in.add(file, n, "a second session entry")
				return
			}
			if cur >= 0 || n != 1 {
				in.add(file, n, "the session entry is not the first entry")
			}
			j.session = &e
			cur = 0
			j.attempts = append(j.attempts, Attempt{Attempt: 0, Why: "start"})
		case events.Resumed:
			cur = len(j.attempts)
			why := e.Reason
			if why == "" {
				why = "resume"
			}
			if e.Attempt == 0 {
				legacy = true
			} else if e.Attempt != cur {
				in.add(file, n, "resumed entry of attempt %d, the journal's attempt %d", e.Attempt, cur)
			}
			j.attempts = append(j.attempts, Attempt{Attempt: cur, Why: why})
		default:
			if cur < 0 {
				in.add(file, n, "a %s entry before the session entry", line.Entry.Kind())
				return
			}
		}
		switch e := line.Entry.(type) {
		case events.Launched:
			if !legacy && e.Attempt != cur {
				in.add(file, n, "%s launched in attempt %d, the journal's attempt %d", e.Plugin, e.Attempt, cur)
			}
		case events.Block:
			j.attempts[cur].Blocks = append(j.attempts[cur].Blocks, e.Block)
		case events.StageDone:
			for _, s := range j.stages {
				if s.attempt == cur && s.done.Stage == e.Stage {
					in.add(file, n, "stage %q done twice in attempt %d (first on line %d)", e.Stage, cur, s.line)
				}
			}
			j.stages = append(j.stages, stageEntry{line: n, attempt: cur, done: e})
		case events.Finished:
			j.finished, j.finishedLine, j.finishedAtt = &e, n, cur
		}
	})
	if err != nil {
		in.add(file, 0, "reading: %v", err)
	}
	if j.session == nil {
		in.add(file, 0, "no session entry")
	}
	return j
}

// rowState is what the rows of one attempt so far were.
type rowState struct {
	line  int
	index int64
	time  float64
}

// readCSV reads one of the CSV files, counting its rows by attempt and,
// in full, checking every row.
func (in *inspection) readCSV(kind csvKind, r io.Reader) error {
	file := csvNames[kind]
	var (
		header   [][]byte
		marked   bool
		width    int
		prev     = map[int]*rowState{}
		lastAtt  = -1
		lastStep = rowState{index: -1}
		bad      bool
	)
	return eachLine(r, func(n int, text []byte, torn bool) {
		if bad {
			return
		}
		if n == 1 {
			header = bytes.Split(text, []byte(","))
			marked = len(header) > 0 && string(header[0]) == "attempt"
			if marked {
				header = header[1:]
			}
			in.marked[kind] = marked
			width = len(header)
			want := csvColumns[kind]
			ok := len(header) >= len(want)
			for i := 0; ok && i < len(want); i++ {
				ok = string(header[i]) == want[i]
			}
			for i := len(want); ok && i < len(header); i++ {
				ok = string(header[i]) == "n"+strconv.Itoa(i-len(want))
			}
			if kind == framesCSV && len(header) != len(want) {
				ok = false
			}
			if !ok || torn {
				in.add(file, n, "header %q is not %s's", text, file)
				bad = true
			}
			return
		}
		if torn {
			in.add(file, n, "torn last line (no newline; a resume cuts it)")
			return
		}
		fields := bytes.Split(text, []byte(","))
		attempt := 0
		if marked {
			a, err := strconv.Atoi(string(fields[0]))
			if err != nil || a < 0 {
				in.add(file, n, "attempt %q is not a number from 0", fields[0])
				return
			}
			attempt, fields = a, fields[1:]
		}
		if len(fields) != width {
			in.add(file, n, "%d columns, the header has %d", len(fields)+b2i(marked), width+b2i(marked))
			return
		}
		c := in.count(attempt)
		switch kind {
		case framesCSV:
			c.frames++
			if string(fields[2]) == "true" {
				c.dropped++
			}
		case scansCSV:
			c.scans++
		case predictionsCSV:
			c.predictions++
		}
		if !in.full {
			return
		}
		if attempt < lastAtt {
			in.add(file, n, "attempt %d after a row of attempt %d", attempt, lastAtt)
		}
		lastAtt = max(lastAtt, attempt)
		index, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			in.add(file, n, "%s %q is not an integer", header[0], fields[0])
			return
		}
		t, err := strconv.ParseFloat(string(fields[1]), 64)
		if err != nil {
			in.add(file, n, "time_s %q is not a number", fields[1])
			return
		}
		for i := 2; i < len(fields); i++ {
			if kind == framesCSV {
				if s := string(fields[i]); s != "true" && s != "false" {
					in.add(file, n, "dropped %q is not true or false", s)
				}
				continue
			}
			if len(fields[i]) == 0 && kind == scansCSV && i >= 3 && i < len(csvColumns[scansCSV]) {
				continue // not measured
			}
			if _, err := strconv.ParseFloat(string(fields[i]), 64); err != nil {
				in.add(file, n, "%s %q is not a number", header[i], fields[i])
			}
		}
		p := prev[attempt]
		if p == nil {
			prev[attempt] = &rowState{line: n, index: index, time: t}
			p = prev[attempt]
		} else {
			switch kind {
			case framesCSV:
				if t == p.time {
					in.add(file, n, "frame %d at %s s again in attempt %d (line %d)", index, fields[1], attempt, p.line)
				} else if t < p.time {
					in.add(file, n, "time goes back in attempt %d: %s s after %.6f s (line %d)", attempt, fields[1], p.time, p.line)
				}
			case scansCSV:
				if index == p.index {
					in.add(file, n, "scan %d again in attempt %d (line %d)", index, attempt, p.line)
				} else if index < p.index {
					in.add(file, n, "scan %d after scan %d in attempt %d (line %d)", index, p.index, attempt, p.line)
				}
				if t < p.time {
					in.add(file, n, "time goes back in attempt %d: %s s after %.6f s (line %d)", attempt, fields[1], p.time, p.line)
				}
			case predictionsCSV:
				if t < p.time {
					in.add(file, n, "time goes back in attempt %d: %s s after %.6f s (line %d)", attempt, fields[1], p.time, p.line)
				}
			}
			*p = rowState{line: n, index: index, time: t}
		}
		if kind == predictionsCSV {
			if index <= lastStep.index {
				in.add(file, n, "step %d after step %d (line %d): a step repeats in the session", index, lastStep.index, lastStep.line)
			}
			lastStep = rowState{line: n, index: max(index, lastStep.index)}
		}
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// crossCheck compares the journal's stage entries with the CSV files'
// rows: each attempt recorded at least the frames and scans its stages
// counted, and an attempt that finished the session (status ok or
// degraded) exactly those of its last stage.
func (in *inspection) crossCheck() {
	if !in.marked[framesCSV] || !in.marked[scansCSV] {
		return // an earlier version's: the rows carry no attempt
	}
	last := map[int]stageEntry{}
	for _, s := range in.journal.stages {
		if s.done.Frames == 0 && s.done.Scans == 0 {
			continue
		}
		c := in.count(s.attempt)
		if c.frames < s.done.Frames {
			in.add("journal.jsonl", s.line, "stage %q done with %d frames shown in attempt %d; frames.csv has %d rows of attempt %d",
				s.done.Stage, s.done.Frames, s.attempt, c.frames, s.attempt)
		}
		if c.scans < s.done.Scans {
			in.add("journal.jsonl", s.line, "stage %q done with %d scans in attempt %d; scans.csv has %d rows of attempt %d",
				s.done.Stage, s.done.Scans, s.attempt, c.scans, s.attempt)
		}
		last[s.attempt] = s
	}
	j := in.journal
	if j.finished == nil || !j.finished.Status.Completed() {
		return
	}
	s, ok := last[j.finishedAtt]
	if !ok || s.done.Frames == 0 {
		return
	}
	c := in.count(s.attempt)
	if c.frames != s.done.Frames || c.scans != s.done.Scans {
		in.add("journal.jsonl", s.line, "the last stage %q counts %d frames and %d scans in attempt %d, which finished the session; the CSV files hold %d and %d",
			s.done.Stage, s.done.Frames, s.done.Scans, s.attempt, c.frames, c.scans)
	}
	if c.predictions > s.done.ModelSteps {
		in.add("journal.jsonl", s.line, "the last stage %q counts %d model steps in attempt %d; predictions.csv has %d rows of it",
			s.done.Stage, s.done.ModelSteps, s.attempt, c.predictions)
	}
}

// checkSummary compares summary.json (of this version: with its attempts)
// and the last attempt's finished entry (with its attempts) with the CSV
// files.
func (in *inspection) checkSummary() {
	t := in.tally()
	data, err := os.ReadFile(filepath.Join(in.dir, "summary.json"))
	if err == nil {
		var s struct {
			FramesShown, FramesDropped, Scans, Predictions *int
			Attempts                                       []Attempt `json:"attempts"`
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			in.add("summary.json", 0, "not JSON: %v", err)
			return
		}
		for name, dst := range map[string]**int{"frames_shown": &s.FramesShown, "frames_dropped": &s.FramesDropped, "scans": &s.Scans, "predictions": &s.Predictions} {
			if v, ok := raw[name]; ok {
				_ = json.Unmarshal(v, dst)
			}
		}
		if v, ok := raw["attempts"]; ok {
			if err := json.Unmarshal(v, &s.Attempts); err != nil {
				in.add("summary.json", 0, "attempts: %v", err)
			}
		}
		if s.Attempts != nil { // an earlier version's summary counts its last run only
			for _, c := range []struct {
				name string
				got  *int
				want int
				file string
			}{{"frames_shown", s.FramesShown, t.Frames, "frames.csv"}, {"frames_dropped", s.FramesDropped, t.Dropped, "frames.csv"},
				{"scans", s.Scans, t.Scans, "scans.csv"}, {"predictions", s.Predictions, t.Predictions, "predictions.csv"}} {
				if c.got == nil {
					in.add("summary.json", 0, "no %s", c.name)
				} else if *c.got != c.want {
					in.add("summary.json", 0, "%s %d, %s has %d", c.name, *c.got, c.file, c.want)
				}
			}
			if len(s.Attempts) != len(t.Attempts) {
				in.add("summary.json", 0, "%d attempts, the record %d", len(s.Attempts), len(t.Attempts))
			}
			for i := range min(len(s.Attempts), len(t.Attempts)) {
				got, want := s.Attempts[i], t.Attempts[i]
				if got.Attempt != want.Attempt || got.Frames != want.Frames || got.Dropped != want.Dropped || got.Scans != want.Scans || got.Predictions != want.Predictions {
					in.add("summary.json", 0, "attempt %d counts %d frames (%d dropped), %d scans, %d predictions; the CSV files hold %d (%d), %d, %d of attempt %d",
						got.Attempt, got.Frames, got.Dropped, got.Scans, got.Predictions, want.Frames, want.Dropped, want.Scans, want.Predictions, want.Attempt)
				}
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		in.add("summary.json", 0, "%v", err)
	}
	// The last finished entry, when the last attempt wrote it (an
	// attempt killed ends without one).
	if f := in.journal.finished; f != nil && f.Attempts > 0 && in.journal.finishedAtt == len(in.journal.attempts)-1 {
		if f.Attempts != len(t.Attempts) || f.FramesShown != int64(t.Frames) || f.FramesDropped != int64(t.Dropped) ||
			f.Scans != int64(t.Scans) || f.Predictions != int64(t.Predictions) {
			in.add("journal.jsonl", in.journal.finishedLine, "finished with %d attempts, %d frames (%d dropped), %d scans, %d predictions; the record holds %d, %d (%d), %d, %d",
				f.Attempts, f.FramesShown, f.FramesDropped, f.Scans, f.Predictions, len(t.Attempts), t.Frames, t.Dropped, t.Scans, t.Predictions)
		}
	}
}

// checkHashes compares the SHA-256 the journal records with the files':
// the copies of the protocol and the config, and each readout (the last
// entry that names it, relative to the session directory).
func (in *inspection) checkHashes() {
	if s := in.journal.session; s != nil {
		for _, c := range []struct {
			name string
			want string
		}{{"protocol.yaml", s.Protocol.SHA256}, {"config.yaml", s.Config.SHA256}} {
			in.checkHash(c.name, c.want, 1)
		}
	}
	last := map[string]stageEntry{}
	for _, s := range in.journal.stages {
		if s.done.Readout != "" && s.done.ReadoutSHA256 != "" && !filepath.IsAbs(s.done.Readout) {
			last[s.done.Readout] = s
		}
	}
	for path, s := range last {
		if !filepath.IsLocal(filepath.FromSlash(path)) {
			in.add("journal.jsonl", s.line, "readout %q is outside the session directory", path)
			continue
		}
		in.checkHash(filepath.FromSlash(path), s.done.ReadoutSHA256, s.line)
	}
}

// checkHash compares the SHA-256 of a file of the record with the one the
// journal's line records.
func (in *inspection) checkHash(name, want string, line int) {
	data, err := os.ReadFile(filepath.Join(in.dir, name))
	if err != nil {
		in.add(name, 0, "the journal (line %d) records its SHA-256: %v", line, err)
		return
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		in.add(name, 0, "SHA-256 %s, the journal (line %d) records %s", got, line, want)
	}
}
