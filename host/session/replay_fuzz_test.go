package session

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadRecordCSV: reading a scans.csv back for a replay never panics,
// whatever the file holds; it either refuses it or decodes every row.
func FuzzReadRecordCSV(f *testing.F) {
	f.Add("attempt,index,time_s,source_time_s,host_unix_s,pupil_x,pupil_y,pupil_radius,treadmill,n0,n1\n" +
		"0,0,0.000000,0.000000,1765158000.123456,0.1,,0.3,1.5,0.25,3e-07\n0,1,0.033333,0.033333,,,,,,1,2\n")
	f.Add("index,time_s,source_time_s,host_unix_s,pupil_x,pupil_y,pupil_radius,treadmill,n0\n0,0.5,0.5,,,,,,x\n")
	f.Add("attempt,time_s\n1,2\n0,3,4\n")
	f.Add("time_s\nNaN\n")
	f.Add("")
	cols := []string{"index", "source_time_s", "host_unix_s", "pupil_x", "pupil_y", "pupil_radius", "treadmill"}
	f.Fuzz(func(t *testing.T, data string) {
		path := filepath.Join(t.TempDir(), "scans.csv")
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := readRecordCSV(path, cols)
		if err != nil {
			return
		}
		for _, row := range c.rows {
			if s, err := c.scan(row); err == nil && len(s.Values) != len(c.neurons) {
				t.Fatalf("line %d: %d values for %d neuron columns", row.line, len(s.Values), len(c.neurons))
			}
		}
	})
}
