package session_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

func resumeExperiment() *protocols.Experiment {
	return &protocols.Experiment{Version: 2, Name: "r", Stages: []protocols.Stage{
		{Kind: protocols.KindPresent, Name: "map", Present: &protocols.PresentBlock{}},
		{Kind: protocols.KindPresent, Name: "test", Present: &protocols.PresentBlock{}},
		{Kind: protocols.KindAdapt, Name: "fit", Adapt: &protocols.AdaptBlock{From: []string{"map"}, HoldOut: []string{"test"}}},
		{Kind: protocols.KindSelect, Name: "sel", Select: &protocols.SelectBlock{}},
	}}
}

const journalHead = `{"kind":"session","protocol":{"path":"p.yaml","sha256":"abc"}}
{"kind":"started","protocol":"r"}
{"kind":"stage_done","stage":"map","start_s":0,"end_s":60}
{"kind":"trial","stimulus":{"family":"x"}}
{"kind":"stage_done","stage":"test","start_s":60,"end_s":90,"scores":{"test":{"cc_norm":[0.5,null],"cc_abs":[0.4,null],"r":[0.1,0.2]}}}
`

func TestReadResume(t *testing.T) {
	// The adapt stage completed: everything before the selection is done.
	j := journalHead + `{"kind":"stage_done","stage":"fit","start_s":90,"end_s":90,"readout":"/runs/s/readout-map.json","scores":{"test":{"cc_norm":[0.7,0.6],"cc_abs":[0.5,0.4],"r":[0.3,0.2]}}}
{"kind":"stage_done","stage":"sel","start_s":90,"end_s":9`
	rs, err := session.ReadResume(strings.NewReader(j), resumeExperiment(), "abc")
	require.NoError(t, err)
	require.Len(t, rs.Done, 3, "the torn last line is not a completed stage")
	require.Equal(t, 90*time.Second, rs.From)
	require.Equal(t, "/runs/s/readout-map.json", rs.Readout)
	require.Equal(t, []float64{0.7, 0.6}, rs.Scores["test"].CCNorm, "the latest scores: with the adapted readout")

	// The adapt stage did not complete: the blocks it fits on run again.
	rs, err = session.ReadResume(strings.NewReader(journalHead), resumeExperiment(), "abc")
	require.NoError(t, err)
	require.Empty(t, rs.Done, "map and everything after it run again")
	require.Equal(t, time.Duration(0), rs.From)

	// Another protocol, or stages that are not the protocol's.
	_, err = session.ReadResume(strings.NewReader(journalHead), resumeExperiment(), "other")
	require.True(t, errors.Is(err, rig.ErrInvalid))
	require.ErrorContains(t, err, "another version of the protocol")
	bad := `{"kind":"session","protocol":{"sha256":"abc"}}` + "\n" + `{"kind":"stage_done","stage":"test"}` + "\n"
	_, err = session.ReadResume(strings.NewReader(bad), resumeExperiment(), "abc")
	require.ErrorContains(t, err, `completed stage 0 is "test"`)
	_, err = session.ReadResume(strings.NewReader(`{"kind":"started"}`), resumeExperiment(), "abc")
	require.ErrorContains(t, err, "no session entry")
}
