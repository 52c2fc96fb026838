package verify

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixtureTrials is a small session with every kind of outcome (values
// written out so the golden files do not depend on a random generator):
// significant, driven only, not driven, the second of two MEIs deciding,
// an aborted target (one MEI trial, missing controls) and one without
// control trials.
func fixtureTrials() []trialIn {
	var out []trialIn
	add := func(target Target, cond Condition, values ...float64) {
		for r, v := range values {
			out = append(out, trialIn{target, cond, r, v})
		}
	}
	t := Target{"n003", 3}
	add(t, mei, 0.82, 0.91, 0.77, 0.88, 0.85)
	add(t, natural, 0.41, 0.35, 0.48, 0.39, 0.44)
	add(t, gabor, 0.22, 0.30, 0.18, 0.25, 0.27)
	add(t, blank, 0.02, -0.03, 0.05, 0.01, -0.01)
	t = Target{"n011", 11}
	add(t, mei, 0.52, 0.31, 0.60, 0.44, 0.38)
	add(t, natural, 0.45, 0.40, 0.29, 0.50, 0.36)
	add(t, gabor, 0.20, 0.33, 0.15, 0.28, 0.24)
	add(t, blank, 0.03, 0.00, -0.02, 0.04, 0.01)
	t = Target{"n020", 20}
	add(t, mei, 0.30, 0.36, 0.28, 0.33, 0.31)
	add(t, natural, 0.62, 0.55, 0.71, 0.58, 0.66)
	add(t, gabor, 0.12, 0.18, 0.09, 0.15, 0.11)
	add(t, blank, 0.01, 0.02, -0.04, 0.00, 0.03)
	t = Target{"n024", 24}
	add(t, mei, 0.40, 0.45, 0.38, 0.42)
	add(t, MEI("mei-2"), 0.95, 1.02, 0.88, 0.97)
	add(t, natural, 0.50, 0.47, 0.55, 0.52)
	add(t, gabor, 0.31, 0.28, 0.35, 0.30)
	add(t, blank, 0.00, 0.02, -0.01, 0.03)
	t = Target{"n031", 31}
	add(t, mei, 0.70)
	add(t, natural, 0.20, 0.25)
	t = Target{"n040", 40}
	add(t, mei, 0.5, 0.6)
	return out
}

func fixtureResult(t testing.TB) *Result {
	a := newAcc(t)
	addAll(t, a, fixtureTrials())
	return a.Result()
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run go test -run TestGolden -update")
	require.Equal(t, string(want), string(got), "%s differs from the golden file (-update rewrites it)", name)
}

func TestGolden(t *testing.T) {
	res := fixtureResult(t)
	for _, tc := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"table.txt", res.WriteTable},
		{"result.json", res.WriteJSON},
		{"result.csv", res.WriteCSV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tc.write(&b))
			golden(t, tc.name, b.Bytes())
		})
	}
}

// The fixture's verdicts, so that the golden files are known to hold the
// right story.
func TestFixtureVerdicts(t *testing.T) {
	res := fixtureResult(t)
	got := map[string]Verdict{}
	for _, tg := range res.Targets {
		got[tg.ID] = tg.Verdict
	}
	require.Equal(t, map[string]Verdict{
		"n003": VerdictSignificant, "n011": VerdictDriven, "n020": VerdictNotDriven,
		"n024": VerdictSignificant, "n031": VerdictDriven, "n040": VerdictIncomplete,
	}, got)
	require.Equal(t, "mei-2", res.Targets[3].BestMEI)
}

func TestJSONDocument(t *testing.T) {
	res := fixtureResult(t)
	var b bytes.Buffer
	require.NoError(t, res.WriteJSON(&b))
	var doc struct {
		Schema        string  `json:"schema"`
		SchemaVersion int     `json:"schema_version"`
		Alpha         float64 `json:"alpha"`
		Summary       struct {
			Evaluated      int      `json:"evaluated"`
			DrivenFraction *float64 `json:"driven_fraction"`
		} `json:"summary"`
		Targets []struct {
			ID         string   `json:"id"`
			Z          *float64 `json:"z"`
			Conditions []struct {
				Name   string   `json:"name"`
				N      int      `json:"n"`
				SD     *float64 `json:"sd"`
				Trials []struct {
					Repeat int     `json:"repeat"`
					Value  float64 `json:"value"`
				} `json:"trials"`
			} `json:"conditions"`
		} `json:"targets"`
	}
	require.NoError(t, json.Unmarshal(b.Bytes(), &doc), "the document is valid JSON")
	require.Equal(t, SchemaName, doc.Schema)
	require.Equal(t, SchemaVersion, doc.SchemaVersion)
	require.Equal(t, 0.05, doc.Alpha)
	require.Equal(t, res.Summary.Evaluated, doc.Summary.Evaluated)
	require.InDelta(t, res.Summary.DrivenFraction, *doc.Summary.DrivenFraction, 1e-15)
	require.Len(t, doc.Targets, len(res.Targets))
	last := doc.Targets[len(doc.Targets)-1]
	require.Equal(t, "n040", last.ID)
	require.Nil(t, last.Z, "an undefined z is null")
	// Every trial is in the document.
	trials := 0
	for _, tg := range doc.Targets {
		for _, c := range tg.Conditions {
			trials += len(c.Trials)
			require.Equal(t, c.N, len(c.Trials))
			if c.N < 2 {
				require.Nil(t, c.SD, "s.d. of %s/%s with %d trials", tg.ID, c.Name, c.N)
			}
		}
	}
	require.Equal(t, len(fixtureTrials()), trials)
}

func TestCSVRows(t *testing.T) {
	res := fixtureResult(t)
	var b bytes.Buffer
	require.NoError(t, res.WriteCSV(&b))
	rows, err := csv.NewReader(&b).ReadAll()
	require.NoError(t, err)
	want := 1
	for _, tg := range res.Targets {
		want += len(tg.Conditions)
	}
	require.Len(t, rows, want, "a header and one row per target and condition")
	require.Equal(t, CSVHeader, rows[0])
}

func TestSaveWritesWholeFiles(t *testing.T) {
	dir := t.TempDir()
	res := fixtureResult(t)
	jsonPath, csvPath := filepath.Join(dir, "verify.json"), filepath.Join(dir, "verify.csv")
	require.NoError(t, os.WriteFile(jsonPath, []byte("old"), 0o600))
	require.NoError(t, res.SaveJSON(jsonPath))
	require.NoError(t, res.SaveCSV(csvPath))

	var want bytes.Buffer
	require.NoError(t, res.WriteJSON(&want))
	got, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	require.Equal(t, want.String(), string(got), "the old file is replaced")
	want.Reset()
	require.NoError(t, res.WriteCSV(&want))
	got, err = os.ReadFile(csvPath)
	require.NoError(t, err)
	require.Equal(t, want.String(), string(got))
	info, err := os.Stat(jsonPath)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), info.Mode().Perm())

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "no temporary file is left behind")
}

// A write that fails half way leaves the previous file intact and no
// temporary file behind.
func TestSaveFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "verify.json")
	require.NoError(t, os.WriteFile(path, []byte("complete old report\n"), 0o644))
	boom := errors.New("disk gone")
	err := saveAtomic(path, func(w io.Writer) error {
		if _, err := w.Write(bytes.Repeat([]byte("x"), 1<<16)); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), path)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "complete old report\n", string(got))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "the temporary file is removed")

	err = fixtureResult(t).SaveCSV(filepath.Join(dir, "missing", "verify.csv"))
	require.Error(t, err, "saving into a missing directory fails")
}

// An accumulator with nothing in it still reports: an empty table and a
// valid document with undefined fractions.
func TestEmptyResult(t *testing.T) {
	res := newAcc(t).Result()
	var b bytes.Buffer
	require.NoError(t, res.WriteTable(&b))
	require.Equal(t, "target  index  MEI  MEI mean  z  max p_Holm  trials  verdict\n"+
		"targets 0, evaluated 0, driven 0 (-), significant 0 (-) at alpha 0.05, median z -\n", b.String())
	b.Reset()
	require.NoError(t, res.WriteJSON(&b))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &doc))
	require.Equal(t, []any{}, doc["targets"])
	require.Nil(t, doc["summary"].(map[string]any)["driven_fraction"])
}
