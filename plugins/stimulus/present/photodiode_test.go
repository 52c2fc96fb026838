package present

import (
	"image"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPhotodiodeRect(t *testing.T) {
	cases := []struct {
		name   string
		corner Corner
		size   int
		w, h   int
		want   image.Rectangle
	}{
		{"top-left", CornerTopLeft, 40, 1024, 576, image.Rect(0, 0, 40, 40)},
		{"top-right", CornerTopRight, 40, 1024, 576, image.Rect(984, 0, 1024, 40)},
		{"bottom-left", CornerBottomLeft, 40, 1024, 576, image.Rect(0, 536, 40, 576)},
		{"bottom-right", CornerBottomRight, 40, 1024, 576, image.Rect(984, 536, 1024, 576)},
		{"clipped to a small screen", CornerBottomRight, 100, 60, 30, image.Rect(0, 0, 60, 30)},
		{"none", CornerNone, 40, 1024, 576, image.Rectangle{}},
		{"unknown corner", Corner("centre"), 40, 1024, 576, image.Rectangle{}},
		{"empty screen", CornerTopLeft, 40, 0, 0, image.Rectangle{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Photodiode{Corner: tc.corner, SizePx: tc.size}.Rect(tc.w, tc.h)
			if tc.want.Empty() {
				require.True(t, got.Empty(), "rect %v", got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestPhotodiodeLevel(t *testing.T) {
	parity := Photodiode{Mode: PatchParity}
	onset := Photodiode{Mode: PatchOnset}
	var gotParity, gotOnset []byte
	for i := range int64(5) {
		gotParity = append(gotParity, parity.Level(i))
		gotOnset = append(gotOnset, onset.Level(i))
	}
	require.Equal(t, []byte{255, 0, 255, 0, 255}, gotParity)
	require.Equal(t, []byte{255, 0, 0, 0, 0}, gotOnset)
}
