package record

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzCheckCSV: reading a CSV file of the record never panics, reports
// violations on the file's lines only and counts no more rows than the
// file has, in both modes (Check's, ReadTally's).
func FuzzCheckCSV(f *testing.F) {
	f.Add(uint8(0), []byte("attempt,index,time_s,dropped\n0,0,0.000000,false\n0,1,0.016667,true\n1,0,0.016667,false\n"))
	f.Add(uint8(0), []byte("index,time_s,dropped\n0,0.000000,false\n0,0.000000,false\n1,0.0"))
	f.Add(uint8(1), []byte("attempt,step,time_s,n0,n1\n0,0,0.000000,1.5,2\n1,1,0.000000,NaN,-3e-07\n0,0,x,,\n"))
	f.Add(uint8(2), []byte("attempt,index,time_s,source_time_s,host_unix_s,pupil_x,pupil_y,pupil_radius,treadmill,n0\n"+
		"0,7,0.250000,0.000000,,0,0,0,0,-0.25\n0,7,0.250000,0.000000,1700000000.500000,,,,,1\n-1,8\n"))
	f.Add(uint8(2), []byte("\n\n,,,\n"))
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, full := range []bool{true, false} {
			in := newInspection("", full)
			require.NoError(t, in.readCSV(csvKind(int(kind)%len(csvNames)), bytes.NewReader(data)))
			for _, v := range in.violations() {
				require.LessOrEqual(t, v.Line, lines, "%s", v)
				require.Equal(t, csvNames[int(kind)%len(csvNames)], v.File)
			}
			rows := 0
			for a, c := range in.rows {
				require.GreaterOrEqual(t, a, 0)
				rows += c.frames + c.scans + c.predictions
				require.LessOrEqual(t, c.dropped, c.frames)
			}
			require.Less(t, rows, lines)
		}
	})
}

// FuzzCheckJournal: reading a journal never panics, reports violations
// on its lines only, and its attempts are numbered from 0 in order.
func FuzzCheckJournal(f *testing.F) {
	f.Add([]byte(`{"kind":"session","protocol":{"path":"p.yaml","sha256":"abc"}}
{"kind":"launched","plugin":"model","path":"/m","attempt":0}
{"kind":"block","block":"a","index":0,"frames":30,"onset_s":0,"repeats":1,"trials":1}
{"kind":"stage_done","stage":"a","start_s":0,"end_s":0.5,"model_steps":15,"scans":15,"frames":30}
{"kind":"resumed","from_s":0.5,"completed":["a"],"attempt":1,"reason":"restart of model"}
{"kind":"stage_done","stage":"a","start_s":0,"end_s":0.5}
{"kind":"finished","status":"ok","duration_s":1,"wall_s":1,"frames_shown":1,"frames_dropped":0,"scans":1,"attempts":2}
`))
	f.Add([]byte("garbage\n\x00\x00\n{\"kind\":\"resumed\"}\n{\"kind\":\"sess"))
	f.Add([]byte(strings.Repeat(`{"kind":"resumed","attempt":3}`+"\n", 3)))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		in := newInspection("", true)
		j := in.readJournal(bytes.NewReader(data))
		for _, v := range in.violations() {
			require.LessOrEqual(t, v.Line, lines, "%s", v)
		}
		for i, a := range j.attempts {
			require.Equal(t, i, a.Attempt)
		}
		for _, s := range j.stages {
			require.Less(t, s.attempt, len(j.attempts))
		}
		in.crossCheck() // must not panic either
	})
}
