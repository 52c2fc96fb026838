package verify

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SchemaVersion is the version of the JSON document WriteJSON writes. It
// changes whenever a field is renamed, removed or changes meaning.
const SchemaVersion = 1

// SchemaName identifies the JSON document ("schema" field).
const SchemaName = "twinrig.verify"

// WriteTable prints the result as a fixed-width table, one row per target:
// id, index, the deciding MEI and its mean, each control's mean, z, the
// largest Holm-corrected p (the one that decides significance), the number
// of trials and the verdict (marked * where the target has notes, which
// follow the table), then a summary line.
func (r *Result) WriteTable(w io.Writer) error {
	header := []string{"target", "index", "MEI", "MEI mean"}
	header = append(header, r.Controls...)
	header = append(header, "z", "max p_Holm", "trials", "verdict")
	rows := [][]string{header}
	for _, t := range r.Targets {
		mei, trials := "-", 0
		meiMean := math.NaN()
		for _, c := range t.Conditions {
			trials += c.N
			if c.Name == t.BestMEI {
				mei, meiMean = c.Name, c.Mean
			}
		}
		row := []string{t.ID, strconv.Itoa(t.Index), mei, num(meiMean, 'g', 4)}
		for _, name := range r.Controls {
			m := math.NaN()
			if c, ok := t.Condition(name); ok {
				m = c.Mean
			}
			row = append(row, num(m, 'g', 4))
		}
		verdict := string(t.Verdict)
		if len(t.Notes) > 0 {
			verdict += " *"
		}
		row = append(row, num(t.Z, 'f', 2), num(t.MaxPHolm, 'g', 3), strconv.Itoa(trials), verdict)
		rows = append(rows, row)
	}
	// Text columns (target, MEI, verdict) align left, numbers right.
	left := map[int]bool{0: true, 2: true, len(header) - 1: true}
	width := make([]int, len(header))
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], len(cell))
		}
	}
	bw := bufio.NewWriter(w)
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-len(cell))
			if left[i] {
				line.WriteString(cell + pad)
			} else {
				line.WriteString(pad + cell)
			}
		}
		fmt.Fprintln(bw, strings.TrimRight(line.String(), " "))
	}
	for _, t := range r.Targets {
		if len(t.Notes) > 0 {
			fmt.Fprintf(bw, "* %s: %s\n", t.ID, strings.Join(t.Notes, "; "))
		}
	}
	fmt.Fprintln(bw, r.String())
	return bw.Flush()
}

// The JSON document. Undefined numbers are null; infinities (which finite
// inputs cannot produce short of overflow) are the strings "+Inf" and
// "-Inf".
type (
	jsonDoc struct {
		Schema        string       `json:"schema"`
		SchemaVersion int          `json:"schema_version"`
		Alpha         float64      `json:"alpha"`
		Controls      []string     `json:"controls"`
		Summary       jsonSummary  `json:"summary"`
		Targets       []jsonTarget `json:"targets"`
	}
	jsonSummary struct {
		Targets             int       `json:"targets"`
		Evaluated           int       `json:"evaluated"`
		Driven              int       `json:"driven"`
		Significant         int       `json:"significant"`
		DrivenFraction      jsonFloat `json:"driven_fraction"`
		SignificantFraction jsonFloat `json:"significant_fraction"`
		ZDefined            int       `json:"z_defined"`
		ZMedian             jsonFloat `json:"z_median"`
		ZQ1                 jsonFloat `json:"z_q1"`
		ZQ3                 jsonFloat `json:"z_q3"`
	}
	jsonTarget struct {
		ID          string          `json:"id"`
		Index       int             `json:"index"`
		Verdict     Verdict         `json:"verdict"`
		Driven      bool            `json:"driven"`
		Significant bool            `json:"significant"`
		BestMEI     string          `json:"best_mei"`
		Z           jsonFloat       `json:"z"`
		MaxPHolm    jsonFloat       `json:"max_p_holm"`
		Pooled      jsonStats       `json:"pooled_controls"`
		Conditions  []jsonCondition `json:"conditions"`
		Tests       []jsonTest      `json:"tests"`
		Notes       []string        `json:"notes"`
	}
	jsonStats struct {
		N    int       `json:"n"`
		Mean jsonFloat `json:"mean"`
		SD   jsonFloat `json:"sd"`
		SEM  jsonFloat `json:"sem"`
	}
	jsonCondition struct {
		Name string `json:"name"`
		Kind Kind   `json:"kind"`
		jsonStats
		Trials []jsonTrial `json:"trials"`
	}
	jsonTrial struct {
		Repeat int       `json:"repeat"`
		Value  jsonExact `json:"value"`
	}
	jsonTest struct {
		Control string    `json:"control"`
		T       jsonFloat `json:"t"`
		DF      jsonFloat `json:"df"`
		P       jsonFloat `json:"p"`
		PHolm   jsonFloat `json:"p_holm"`
	}
)

// jsonFloat is a computed float64, encoded with statPrecision significant
// digits, NaN as null and infinities as strings.
type jsonFloat float64

// MarshalJSON implements json.Marshaler.
func (f jsonFloat) MarshalJSON() ([]byte, error) { return marshalFloat(float64(f), statPrecision) }

// jsonExact is an input value, encoded exactly (shortest round-trip form).
type jsonExact float64

// MarshalJSON implements json.Marshaler.
func (f jsonExact) MarshalJSON() ([]byte, error) { return marshalFloat(float64(f), -1) }

// statPrecision is the number of significant digits of computed statistics
// in the JSON and CSV files: far beyond any experimental precision, and few
// enough that the files do not change with the last bits of floating-point
// rounding, which differ between CPU architectures (fused multiply-add).
const statPrecision = 12

func marshalFloat(v float64, prec int) ([]byte, error) {
	switch {
	case math.IsNaN(v):
		return []byte("null"), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', prec, 64), nil
}

func jsonStatsOf(s Stats) jsonStats {
	return jsonStats{N: s.N, Mean: jsonFloat(s.Mean), SD: jsonFloat(s.SD), SEM: jsonFloat(s.SEM)}
}

// WriteJSON writes the whole result, every trial included, as one indented
// JSON document (schema SchemaName, version SchemaVersion; undefined
// numbers are null). Trial values are exact; computed statistics carry 12
// significant digits.
func (r *Result) WriteJSON(w io.Writer) error {
	s := r.Summary
	doc := jsonDoc{
		Schema: SchemaName, SchemaVersion: SchemaVersion, Alpha: r.Alpha,
		Controls: nonNil(r.Controls),
		Summary: jsonSummary{
			Targets: s.Targets, Evaluated: s.Evaluated, Driven: s.Driven, Significant: s.Significant,
			DrivenFraction: jsonFloat(s.DrivenFraction), SignificantFraction: jsonFloat(s.SignificantFraction),
			ZDefined: s.Z.Defined, ZMedian: jsonFloat(s.Z.Median), ZQ1: jsonFloat(s.Z.Q1), ZQ3: jsonFloat(s.Z.Q3),
		},
		Targets: []jsonTarget{},
	}
	for _, t := range r.Targets {
		jt := jsonTarget{
			ID: t.ID, Index: t.Index, Verdict: t.Verdict, Driven: t.Driven, Significant: t.Significant,
			BestMEI: t.BestMEI, Z: jsonFloat(t.Z), MaxPHolm: jsonFloat(t.MaxPHolm), Pooled: jsonStatsOf(t.Pooled),
			Conditions: []jsonCondition{}, Tests: []jsonTest{}, Notes: nonNil(t.Notes),
		}
		for _, c := range t.Conditions {
			jc := jsonCondition{Name: c.Name, Kind: c.Kind, jsonStats: jsonStatsOf(c.Stats), Trials: []jsonTrial{}}
			for _, tr := range c.Trials {
				jc.Trials = append(jc.Trials, jsonTrial{Repeat: tr.Repeat, Value: jsonExact(tr.Value)})
			}
			jt.Conditions = append(jt.Conditions, jc)
		}
		for _, ts := range t.Tests {
			jt.Tests = append(jt.Tests, jsonTest{Control: ts.Control, T: jsonFloat(ts.T), DF: jsonFloat(ts.DF),
				P: jsonFloat(ts.P), PHolm: jsonFloat(ts.PHolm)})
		}
		doc.Targets = append(doc.Targets, jt)
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("verify: encoding JSON: %w", err)
	}
	if _, err := w.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("verify: writing JSON: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CSVHeader is the header row WriteCSV writes.
var CSVHeader = []string{
	"target", "index", "condition", "kind", "n", "mean", "sd", "sem",
	"best_mei", "t", "df", "p", "p_holm", "z", "verdict",
}

// WriteCSV writes one row per target and condition (header CSVHeader).
// Per-condition columns: n, mean, sd, sem; best_mei is true on the
// deciding MEI's row; t, df, p and p_holm are the test of the deciding MEI
// against the row's control (empty on MEI rows); z and verdict repeat the
// target's. Undefined numbers are empty cells; numbers carry 12
// significant digits.
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("verify: writing CSV: %w", err)
	}
	for _, t := range r.Targets {
		tests := map[string]Test{}
		for _, ts := range t.Tests {
			tests[ts.Control] = ts
		}
		for _, c := range t.Conditions {
			row := []string{t.ID, strconv.Itoa(t.Index), c.Name, string(c.Kind), strconv.Itoa(c.N),
				csvNum(c.Mean), csvNum(c.SD), csvNum(c.SEM), strconv.FormatBool(c.Name == t.BestMEI)}
			if ts, ok := tests[c.Name]; ok {
				row = append(row, csvNum(ts.T), csvNum(ts.DF), csvNum(ts.P), csvNum(ts.PHolm))
			} else {
				row = append(row, "", "", "", "")
			}
			row = append(row, csvNum(t.Z), string(t.Verdict))
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("verify: writing CSV: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("verify: writing CSV: %w", err)
	}
	return nil
}

// SaveJSON writes WriteJSON's document to path atomically.
func (r *Result) SaveJSON(path string) error { return saveAtomic(path, r.WriteJSON) }

// SaveCSV writes WriteCSV's rows to path atomically.
func (r *Result) SaveCSV(path string) error { return saveAtomic(path, r.WriteCSV) }

// saveAtomic writes a temporary file next to path, syncs it and renames it
// over path, so that path holds either its old content or the whole new
// one. The temporary file is removed on failure.
func saveAtomic(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("verify: saving %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("verify: saving %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable; best effort (not every platform
	// syncs directories), the file is complete either way.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// num formats v for the table; undefined values print as "-".
func num(v float64, format byte, prec int) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, format, prec, 64)
}

// pct formats a fraction as a percentage.
func pct(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
}

// csvNum formats v with statPrecision significant digits; undefined
// values are empty.
func csvNum(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', statPrecision, 64)
}
