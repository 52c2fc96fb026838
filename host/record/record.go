// Package record stores what a session produces, as it happens, in a
// session directory:
//
//	frames.csv       attempt,index,time_s,dropped  one row per shown frame
//	predictions.csv  attempt,step,time_s,n0,n1,... one row per model frame
//	scans.csv        attempt,index,time_s,source_time_s,host_unix_s,
//	                 pupil_x,pupil_y,pupil_radius,treadmill,n0,n1,...
//	                                               one row per imaging scan: its
//	                                               attempt, sequence number, session time,
//	                                               the source's own timestamp,
//	                                               when the plugin had it, the
//	                                               behaviour (z-scored, empty
//	                                               when missing) and the responses
//	journal.jsonl    one JSON object per entry (see Journal): what produced
//	                 the session (events.SessionEntry), every session event
//	                 (the host's payloads, events.Payload), each completed
//	                 stage (events.StageDone) and each resume
//	                 (events.Resumed), in order, each written and synced
//	                 to disk at once
//	selection-<stage>.json, <stage>-<target>-<name>.png
//	                 a select stage's targets, MEIs and controls
//	verify-<stage>.json, verify-<stage>.csv
//	                 a verify stage's grades, replaced after every repeat
//	summary.json     written by the host when the session ends, replaced
//	                 atomically
//
// Every CSV row starts with its attempt: 0 for the session's first start
// of the plugins, one more at each restart or resumption (Open), so that
// the rows a restart records again are told apart; a prediction's step
// continues across attempts. Rows are flushed after every batch, so a
// session that ends early keeps everything recorded up to that point; Open
// cuts a torn last line before a resumed session appends. Check verifies a
// record's invariants; Tally counts it by attempt. docs/record.md describes
// every file and column.
package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/host/verify"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// Dir records a session into a directory. Each method may be called from
// its own goroutine.
type Dir struct {
	path                string
	frames, preds, scan *csvFile
	// attempt is the attempt the rows belong to; stepBase is added to the
	// predictions' steps (the timeline counts them from 0 at each
	// attempt), so that a step never repeats within the session.
	attempt  int
	stepBase int64

	jmu     sync.Mutex
	journal *os.File
}

var _ session.Recorder = (*Dir)(nil)

type csvFile struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	buf []byte
	// unmarked: the file, of an earlier version, has no attempt column;
	// rows appended to it have none either.
	unmarked bool
	attempt  int
}

// Create makes the session directory (which must not exist yet) and its
// files. neurons sets the width of the prediction and scan tables.
func Create(path string, neurons int) (*Dir, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	d := &Dir{path: path}
	var err error
	header := func(first string) string {
		h := "attempt," + first + ",time_s"
		for n := range neurons {
			h += ",n" + strconv.Itoa(n)
		}
		return h + "\n"
	}
	if d.frames, err = newCSV(filepath.Join(path, "frames.csv"), "attempt,index,time_s,dropped\n"); err != nil {
		return nil, err
	}
	if d.preds, err = newCSV(filepath.Join(path, "predictions.csv"), header("step")); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	if d.scan, err = newCSV(filepath.Join(path, "scans.csv"), scanHeader(neurons)); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	if d.journal, err = os.OpenFile(filepath.Join(path, "journal.jsonl"), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, errors.Join(fmt.Errorf("recording: %w", err), d.Close())
	}
	return d, nil
}

// Journal appends one entry to journal.jsonl, as events.EncodeEntry
// writes it: a JSON object with the entry's kind, the wall-clock time and
// the entry's fields (an event's are those it has on MQTT). The line is
// written in one call and synced to disk before Journal returns, so that a
// crash (even kill -9 of the host, or a power cut) loses no entry that
// Journal returned for. events.DecodeEntry reads a line back.
func (d *Dir) Journal(e events.Entry) error {
	line, err := events.EncodeEntry(e, time.Now())
	if err != nil {
		return fmt.Errorf("recording journal: %w", err)
	}
	d.jmu.Lock()
	defer d.jmu.Unlock()
	if _, err := d.journal.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("recording journal: %w", err)
	}
	if err := d.journal.Sync(); err != nil {
		return fmt.Errorf("recording journal: %w", err)
	}
	return nil
}

// Keep stores a copy of an input of the session (its config, its
// protocol) in the session directory under name, synced to disk.
func (d *Dir) Keep(name string, data []byte) error {
	if name != filepath.Base(name) || name == "." || name == ".." {
		return fmt.Errorf("recording: keep %q: expected a plain file name: %w", name, rig.ErrInvalid)
	}
	f, err := os.OpenFile(filepath.Join(d.path, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Sync(), f.Close())
	if err != nil {
		return fmt.Errorf("recording %s: %w", name, err)
	}
	return nil
}

// Open reopens the session directory of an interrupted session (see
// Create) for a resumed session, whose rows are marked with attempt (1 or
// more; session.Resume.Attempt): rows and journal entries are appended to
// the existing files, which must all be there. A file that ends without a
// newline (a line torn by a crash or a full disk) is first cut back to its
// last whole line, and what was cut is logged on log (nil: slog.Default),
// so that nothing is appended onto a torn line. The predictions' steps
// continue after the last one recorded. A CSV file of an earlier version,
// without the attempt column, is appended to in its own format (logged).
func Open(path string, attempt int, log *slog.Logger) (*Dir, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Dir{path: path, attempt: attempt}
	open := func(name string) (*os.File, error) {
		file := filepath.Join(path, name)
		cut, err := CutTorn(file)
		if err != nil {
			return nil, fmt.Errorf("recording: resuming %s: %w", path, err)
		}
		if cut > 0 {
			log.Warn("resuming: cut a torn last line", "file", file, "bytes", cut)
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("recording: resuming %s: %w", path, err)
		}
		return f, nil
	}
	for _, c := range []struct {
		name string
		dst  **csvFile
	}{{"frames.csv", &d.frames}, {"predictions.csv", &d.preds}, {"scans.csv", &d.scan}} {
		f, err := open(c.name)
		if err != nil {
			return nil, errors.Join(err, d.Close())
		}
		*c.dst = &csvFile{f: f, w: bufio.NewWriterSize(f, 1<<16), attempt: attempt}
		head, last, err := ends(f.Name())
		if err != nil {
			return nil, errors.Join(fmt.Errorf("recording: resuming %s: %w", path, err), d.Close())
		}
		if !bytes.HasPrefix(head, []byte("attempt,")) {
			(*c.dst).unmarked = true
			log.Warn("resuming a record of an earlier version: its rows carry no attempt", "file", f.Name())
		}
		if c.dst == &d.preds && last != nil {
			// The steps go on after the last one recorded.
			fields := bytes.Split(last, []byte(","))
			col := 1
			if d.preds.unmarked {
				col = 0
			}
			if col < len(fields) {
				if step, err := strconv.ParseInt(string(fields[col]), 10, 64); err == nil && step >= 0 {
					d.stepBase = step + 1
				}
			}
		}
	}
	var err error
	if d.journal, err = open("journal.jsonl"); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

// ends returns the first line of the file at path (its header) and its
// last line when it has more than one (nil otherwise), without their
// newlines. The file ends with a newline (CutTorn).
func ends(path string) (head, last []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := info.Size()
	buf := make([]byte, min(size, 64<<10))
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		head = buf[:i]
	} else {
		head = buf
	}
	if int64(len(head))+1 >= size {
		return head, nil, nil
	}
	// Read back from the end to the newline before the last line.
	end := size - 1 // the last newline
	var tail []byte
	for pos := end; pos > 0; {
		start := max(0, pos-(64<<10))
		chunk := make([]byte, pos-start)
		if _, err := f.ReadAt(chunk, start); err != nil {
			return nil, nil, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return head, append(chunk[i+1:], tail...), nil
		}
		tail = append(chunk, tail...)
		pos = start
	}
	return head, tail, nil
}

// CutTorn truncates the file at path to its last whole line (the last
// newline included) when it ends without a newline, syncs it, and returns
// how many bytes it cut (0: the file was empty or ended with a newline).
// A file without any newline is cut to nothing.
func CutTorn(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	size := info.Size()
	keep := size
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			keep = start + int64(i) + 1
			break
		}
		keep, end = 0, start
	}
	if keep == size {
		return 0, nil
	}
	if err := f.Truncate(keep); err != nil {
		return 0, fmt.Errorf("%s: cutting the torn last line: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return size - keep, nil
}

// ReadSelection reads back the targets a select stage recorded
// (Selection): ids, scores and the specifications of their MEIs and
// controls (not their frames).
func ReadSelection(dir, stage string) ([]session.Target, error) {
	path := filepath.Join(dir, fileName("selection-"+stage+".json"))
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	var f selectionFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("recording %s: %v: %w", path, err, rig.ErrInvalid)
	}
	out := make([]session.Target, 0, len(f.Targets))
	for _, t := range f.Targets {
		st := session.Target{Neuron: t.Neuron, ID: t.ID, Score: math.NaN(), Controls: map[protocols.Control]session.Choice{}}
		if t.Score != nil {
			st.Score = *t.Score
		}
		for _, m := range t.MEIs {
			seq, err := m.Sequence.sequence()
			if err != nil {
				return nil, fmt.Errorf("recording %s: target %s: MEI %s: %w", path, t.ID, m.Name, err)
			}
			if (seq == nil) == (len(m.Spec) == 0) {
				return nil, fmt.Errorf("recording %s: target %s: MEI %s: want a spec or a sequence, one of them: %w", path, t.ID, m.Name, rig.ErrInvalid)
			}
			st.MEIs = append(st.MEIs, session.Choice{Name: m.Name, Spec: m.Spec, Sequence: seq, Predicted: m.Predicted})
		}
		for name, c := range t.Controls {
			seq, err := c.Sequence.sequence()
			if err != nil {
				return nil, fmt.Errorf("recording %s: target %s: control %s: %w", path, t.ID, name, err)
			}
			st.Controls[protocols.Control(name)] = session.Choice{Name: c.Name, Spec: c.Spec, Sequence: seq, Predicted: c.Predicted}
		}
		out = append(out, st)
	}
	return out, nil
}

func newCSV(path, header string) (*csvFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	c := &csvFile{f: f, w: bufio.NewWriterSize(f, 1<<16)}
	if _, err := c.w.WriteString(header); err != nil {
		return nil, fmt.Errorf("recording %s: %w", path, err)
	}
	return c, nil
}

// Path returns the session directory.
func (d *Dir) Path() string { return d.path }

// Attempt returns the attempt the rows are marked with.
func (d *Dir) Attempt() int { return d.attempt }

// Frames appends shown frames.
func (d *Dir) Frames(frames []rig.ShownFrame) error {
	return d.frames.rows(len(frames), func(i int, b []byte) []byte {
		f := frames[i]
		b = strconv.AppendInt(b, f.Index, 10)
		b = append(b, ',')
		b = appendSeconds(b, f.Time)
		b = append(b, ',')
		return strconv.AppendBool(b, f.Dropped)
	})
}

// Predictions appends model predictions.
func (d *Dir) Predictions(preds []session.Prediction) error {
	return d.preds.rows(len(preds), func(i int, b []byte) []byte {
		return appendRow(b, d.stepBase+int64(preds[i].Step), preds[i].Time, preds[i].Values)
	})
}

// Scans appends imaging scans.
func (d *Dir) Scans(scans []rig.Scan) error {
	return d.scan.rows(len(scans), func(i int, b []byte) []byte {
		s := scans[i]
		b = strconv.AppendInt(b, s.Index, 10)
		b = append(b, ',')
		b = appendSeconds(b, s.Time)
		b = append(b, ',')
		b = appendSeconds(b, s.SourceTime)
		b = append(b, ',')
		if !s.HostTime.IsZero() {
			b = strconv.AppendFloat(b, float64(s.HostTime.UnixNano())/1e9, 'f', 6, 64)
		}
		for _, v := range []float32{s.Behaviour.PupilX, s.Behaviour.PupilY, s.Behaviour.PupilRadius, s.Behaviour.Treadmill} {
			b = append(b, ',')
			if v == v { // NaN (missing) stays empty
				b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
			}
		}
		return appendValues(b, s.Values)
	})
}

func scanHeader(neurons int) string {
	h := "attempt,index,time_s,source_time_s,host_unix_s,pupil_x,pupil_y,pupil_radius,treadmill"
	for n := range neurons {
		h += ",n" + strconv.Itoa(n)
	}
	return h + "\n"
}

// WriteSummary writes v as summary.json, replaced atomically (see
// writeAtomic): a crash or a full disk leaves the previous summary, or
// none, never a partial one.
func (d *Dir) WriteSummary(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("recording summary: %w", err)
	}
	if err := writeAtomic(filepath.Join(d.path, "summary.json"), append(data, '\n')); err != nil {
		return fmt.Errorf("recording summary: %w", err)
	}
	return nil
}

// Close flushes and closes every file.
func (d *Dir) Close() error {
	var errs []error
	for _, c := range []*csvFile{d.frames, d.preds, d.scan} {
		if c == nil {
			continue
		}
		c.mu.Lock()
		errs = append(errs, c.w.Flush(), c.f.Close())
		c.mu.Unlock()
	}
	if d.journal != nil {
		d.jmu.Lock()
		errs = append(errs, d.journal.Close())
		d.jmu.Unlock()
	}
	return errors.Join(errs...)
}

func (c *csvFile) rows(n int, row func(i int, b []byte) []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range n {
		b := c.buf[:0]
		if !c.unmarked {
			b = append(strconv.AppendInt(b, int64(c.attempt), 10), ',')
		}
		c.buf = append(row(i, b), '\n')
		if _, err := c.w.Write(c.buf); err != nil {
			return fmt.Errorf("recording %s: %w", c.f.Name(), err)
		}
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("recording %s: %w", c.f.Name(), err)
	}
	return nil
}

func appendSeconds(b []byte, t time.Duration) []byte {
	return strconv.AppendFloat(b, t.Seconds(), 'f', 6, 64)
}

func appendRow(b []byte, index int64, t time.Duration, values []float32) []byte {
	b = strconv.AppendInt(b, index, 10)
	b = append(b, ',')
	b = appendSeconds(b, t)
	return appendValues(b, values)
}

func appendValues(b []byte, values []float32) []byte {
	for _, v := range values {
		b = append(b, ',')
		b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
	}
	return b
}

// selectionFile is the JSON a select stage leaves: selection-<stage>.json.
type selectionFile struct {
	Stage   string            `json:"stage"`
	Seconds float64           `json:"seconds"`
	Targets []selectionTarget `json:"targets"`
}

type selectionTarget struct {
	Neuron   int                      `json:"neuron"`
	ID       string                   `json:"id"`
	Score    *float64                 `json:"score"`
	MEIs     []selectionStim          `json:"meis"`
	Controls map[string]selectionStim `json:"controls"`
}

type selectionStim struct {
	Name      string          `json:"name"`
	Predicted float64         `json:"predicted"`
	Optimal   *float64        `json:"optimal_r,omitempty"`
	Spec      json.RawMessage `json:"spec,omitempty"`
	// Sequence holds an MEI's frames (Spec is then empty).
	Sequence *recordedSequence `json:"sequence,omitempty"`
	// Image is the PNG of its first frame, beside the JSON.
	Image string `json:"image,omitempty"`
}

// recordedSequence is a rig.FrameSequence in a selection file: the frames
// (row-major 8-bit gray, base64 in the JSON) at RateHz.
type recordedSequence struct {
	RateHz float64  `json:"rate_hz"`
	Width  int      `json:"width"`
	Height int      `json:"height"`
	Frames [][]byte `json:"frames"`
}

func recordSequence(s *rig.FrameSequence) *recordedSequence {
	if s == nil || len(s.Frames) == 0 {
		return nil
	}
	out := &recordedSequence{RateHz: s.RateHz, Width: s.Frames[0].Width, Height: s.Frames[0].Height}
	for _, f := range s.Frames {
		out.Frames = append(out.Frames, f.Pixels)
	}
	return out
}

// sequence returns the recorded sequence, checked (nil for none).
func (r *recordedSequence) sequence() (*rig.FrameSequence, error) {
	if r == nil {
		return nil, nil
	}
	out := &rig.FrameSequence{RateHz: r.RateHz}
	for _, px := range r.Frames {
		out.Frames = append(out.Frames, rig.Frame{Width: r.Width, Height: r.Height, Pixels: px})
	}
	return out, out.Check()
}

// Selection records a select stage's targets with their MEIs and controls
// (selection-<stage>.json, written atomically) and a PNG of the first frame
// of each MEI and control (<stage>-<target>-<name>.png), for a look.
func (d *Dir) Selection(sel session.Selection) error {
	f := selectionFile{Stage: sel.Stage, Seconds: sel.Took.Seconds()}
	for _, t := range sel.Targets {
		st := selectionTarget{Neuron: t.Neuron, ID: t.ID, Controls: map[string]selectionStim{}}
		if !math.IsNaN(t.Score) {
			st.Score = &t.Score
		}
		// Only MEIs are compared with the optimal stimuli; a control's
		// Optimal is meaningless.
		keep := func(s session.Choice, mei bool) (selectionStim, error) {
			out := selectionStim{Name: s.Name, Predicted: s.Predicted, Spec: s.Spec, Sequence: recordSequence(s.Sequence)}
			if mei && !math.IsNaN(s.Optimal) {
				v := s.Optimal
				out.Optimal = &v
			}
			if len(s.Frames) > 0 {
				out.Image = fileName(sel.Stage + "-" + t.ID + "-" + s.Name + ".png")
				if err := writePNG(filepath.Join(d.path, out.Image), s.Frames[0]); err != nil {
					return out, err
				}
			}
			return out, nil
		}
		for _, m := range t.MEIs {
			s, err := keep(m, true)
			if err != nil {
				return err
			}
			st.MEIs = append(st.MEIs, s)
		}
		for name, c := range t.Controls {
			s, err := keep(c, false)
			if err != nil {
				return err
			}
			st.Controls[string(name)] = s
		}
		f.Targets = append(f.Targets, st)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("recording selection %s: %w", sel.Stage, err)
	}
	return writeAtomic(filepath.Join(d.path, fileName("selection-"+sel.Stage+".json")), append(data, '\n'))
}

// Verification records a verify stage's grades as verify-<stage>.json and
// verify-<stage>.csv, each replaced atomically.
func (d *Dir) Verification(stage string, r *verify.Result) error {
	base := filepath.Join(d.path, fileName("verify-"+stage))
	if err := r.SaveJSON(base + ".json"); err != nil {
		return fmt.Errorf("recording verification %s: %w", stage, err)
	}
	if err := r.SaveCSV(base + ".csv"); err != nil {
		return fmt.Errorf("recording verification %s: %w", stage, err)
	}
	return nil
}

// fileName makes s safe as a file name: anything but letters, digits,
// '-', '_' and '.' becomes '_'.
func fileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

// writeAtomic writes data to path through a synced temporary file in the
// same directory and a rename (the directory synced after it), so that
// path holds either the old or the new content.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	_, err = f.Write(data)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("recording %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("recording: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir syncs a directory, so that a rename in it survives a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	err = f.Sync()
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("recording %s: syncing the directory: %w", dir, err)
	}
	return nil
}

// writePNG writes a gray frame as a PNG file.
func writePNG(path string, f rig.Frame) error {
	if f.Width < 1 || f.Height < 1 || len(f.Pixels) != f.Width*f.Height {
		return fmt.Errorf("recording %s: a %dx%d frame with %d pixels: %w", path, f.Width, f.Height, len(f.Pixels), rig.ErrInvalid)
	}
	img := &image.Gray{Pix: f.Pixels, Stride: f.Width, Rect: image.Rect(0, 0, f.Width, f.Height)}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("recording %s: %w", path, err)
	}
	return writeAtomic(path, buf.Bytes())
}
