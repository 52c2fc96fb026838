package present

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDropDetector(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(f float64) time.Time { return base.Add(time.Duration(f * float64(time.Millisecond))) }
	type draw struct {
		at   float64 // ms
		idle bool
	}
	cases := []struct {
		name  string
		rate  float64
		draws []draw
		// want lists the dropped flags of the frame draws, in order.
		want []bool
	}{
		{"steady 60 Hz", 60, []draw{{0, false}, {16.7, false}, {33.3, false}, {50, false}}, []bool{false, false, false, false}},
		{"first frame never dropped", 60, []draw{{500, false}, {516.7, false}}, []bool{false, false}},
		{"one missed refresh", 60, []draw{{0, false}, {16.7, false}, {50, false}, {66.7, false}}, []bool{false, false, true, false}},
		{"exactly 1.5 periods is not a drop", 100, []draw{{0, false}, {15, false}}, []bool{false, false}},
		{"just over 1.5 periods is", 100, []draw{{0, false}, {15.001, false}}, []bool{false, true}},
		{"idle gray resets the interval", 60, []draw{{0, false}, {100, true}, {116.7, false}}, []bool{false, false}},
		{"late after idle", 60, []draw{{0, true}, {40, false}}, []bool{true}},
		{"30 Hz tolerates 40 ms", 30, []draw{{0, false}, {40, false}, {91, false}}, []bool{false, false, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDropDetector(tc.rate)
			var got []bool
			for _, dr := range tc.draws {
				if dr.idle {
					d.Idle(ms(dr.at))
					continue
				}
				got = append(got, d.Frame(ms(dr.at)))
			}
			require.Equal(t, tc.want, got)
		})
	}
	t.Run("reset", func(t *testing.T) {
		d := NewDropDetector(60)
		d.Frame(ms(0))
		d.Reset()
		require.False(t, d.Frame(ms(1000)))
	})
}

func TestDropLimit(t *testing.T) {
	require.Equal(t, 25*time.Millisecond, DropLimit(60))
	require.Equal(t, 50*time.Millisecond, DropLimit(30))
}
