package stimuli

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// TestValidationFamilies lists, per family, specs New must refuse and the
// words the error must hold: the field, the value and what was expected.
func TestValidationFamilies(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		spec string
		want []string
	}{
		{"gabor sigma zero", `{"family":"gabor","sigma":0}`, []string{`field "sigma": 0 out of range [0.001,1]`}},
		{"gabor x", `{"family":"gabor","x":1.2}`, []string{`field "x": 1.2 out of range [0,1]`}},
		{"gabor position pair", `{"family":"gabor","positions":[[0.5]]}`, []string{`field "positions": entry 0 has 1 numbers, want an [x, y] pair`}},
		{"gabor position range", `{"family":"gabor","positions":[[0.5,0.5],[0.2,-1]]}`, []string{`field "positions": entry 1: -1 out of range [0,1]`}},
		{"gabor positions empty", `{"family":"gabor","positions":[]}`, []string{`field "positions": 0 entries, want 1 to 64`}},
		{"gabor nyquist", `{"family":"gabor","cycles_per_width":65}`, []string{`field "cycles_per_width": 65 out of range [0,64]`}},
		{"gabor tf", `{"family":"gabor","temporal_freq_hz":-1}`, []string{`field "temporal_freq_hz": -1 out of range [0,30]`}},
		{"dots on zero", `{"family":"dots","on_frames":0}`, []string{`field "on_frames": 0 out of range [1,2147483647]`}},
		{"dots off negative", `{"family":"dots","off_frames":-1}`, []string{`field "off_frames": -1 out of range [0,2147483647]`}},
		{"dots polarity", `{"family":"dots","polarity":"up"}`, []string{`field "polarity": "up" is not one of on, off, both`}},
		{"dots layout", `{"family":"dots","layout":7}`, []string{`field "layout": 7 is not a string, want one of grid, random`}},
		{"dots rows", `{"family":"dots","rows":0}`, []string{`field "rows": 0 out of range [1,256]`}},
		{"dots sigma", `{"family":"dots","sigma":2}`, []string{`field "sigma": 2 out of range [0.001,1]`}},
		{"rdk coherence high", `{"family":"rdk","coherence":1.5}`, []string{`field "coherence": 1.5 out of range [0,1]`}},
		{"rdk coherence negative", `{"family":"rdk","coherence":-0.1}`, []string{`field "coherence": -0.1 out of range [0,1]`}},
		{"rdk lifetime", `{"family":"rdk","lifetime":-2}`, []string{`field "lifetime": -2 out of range [0,2147483647]`}},
		{"rdk polarity", `{"family":"rdk","polarity":"white"}`, []string{`field "polarity": "white" is not one of on, off, both`}},
		{"rdk radius", `{"family":"rdk","dot_radius":0}`, []string{`field "dot_radius": 0 out of range [0.0005,0.25]`}},
		{"pink alpha", `{"family":"pink_noise","alpha":5}`, []string{`field "alpha": 5 out of range [0,4]`}},
		{"pink speed", `{"family":"pink_noise","speed":-1}`, []string{`field "speed": -1 out of range [0,10]`}},
		{"pink contrast", `{"family":"pink_noise","contrast":"1"}`, []string{`field "contrast": "1" is not a finite number`}},
		{"natural objects", `{"family":"natural","objects":65}`, []string{`field "objects": 65 out of range [0,64]`}},
		{"images missing file", `{"family":"images","paths":["testdata/images/gradient.png","testdata/images/missing.png"]}`, []string{`field "paths": entry 1: open testdata/images/missing.png: no such file or directory, want a readable PNG or JPEG file`}},
		{"images corrupt", `{"family":"images","paths":["testdata/images/corrupt.png"]}`, []string{`field "paths": entry 0: testdata/images/corrupt.png:`, "want a PNG or JPEG file"}},
		{"images not an image", `{"family":"images","paths":["testdata/images/notes.txt"]}`, []string{`entry 0: testdata/images/notes.txt: image: unknown format, want a PNG or JPEG file`}},
		{"images empty list", `{"family":"images","paths":[]}`, []string{`field "paths": 0 entries, want 1 to 10000`}},
		{"images empty path", `{"family":"images","paths":[""]}`, []string{`field "paths": entry 0 is empty, want a file path`}},
		{"images paths and count", `{"family":"images","paths":["testdata/images/gradient.png"],"count":2}`, []string{`field "count": given with "paths"`}},
		{"images off negative", `{"family":"images","off_frames":-1}`, []string{`field "off_frames": -1 out of range [0,2147483647]`}},
		{"images fit", `{"family":"images","fit":"zoom"}`, []string{`field "fit": "zoom" is not one of cover, contain, stretch`}},
		{"video missing", `{"family":"video","path":"testdata/missing.mp4"}`, []string{`field "path": stat testdata/missing.mp4: no such file or directory, want a video file, a directory of frames or a glob pattern`}},
		{"video empty dir", `{"family":"video","path":"` + empty + `"}`, []string{`field "path": directory`, "holds no .png, .jpg or .jpeg files"}},
		{"video glob", `{"family":"video","path":"testdata/sequence/*.gif"}`, []string{`field "path": "testdata/sequence/*.gif" matches no files`}},
		{"video bad frame", `{"family":"video","path":"testdata/images/*.png"}`, []string{`field "path": testdata/images/corrupt.png:`}},
		{"video max frames", `{"family":"video","path":"testdata/sequence","max_frames":0}`, []string{`field "max_frames": 0 out of range [1,1048576]`}},
		{"video path type", `{"family":"video","path":3}`, []string{`field "path": 3 is not a non-empty string, want a file path`}},
		{"video rate", `{"family":"video","path":"testdata/sequence","source_rate_hz":0}`, []string{`field "source_rate_hz": 0 out of range [0.001,1000]`}},
		{"frames no size", `{"family":"frames","frames":["AA=="]}`, []string{`fields "width" and "height": missing, want the size of the given frames`}},
		{"frames wrong size", `{"family":"frames","width":2,"height":2,"frames":["AAAAAA==","AAA="]}`, []string{`field "frames": entry 1: 2 bytes, want width*height = 2x2 = 4`}},
		{"frames bad base64", `{"family":"frames","width":1,"height":1,"frames":["@@"]}`, []string{`field "frames": entry 0: illegal base64 data at input byte 0, want standard base64`}},
		{"frames not list", `{"family":"frames","width":1,"height":1,"frames":"AA=="}`, []string{`field "frames": "AA==" is not a list of base64 strings`}},
		{"frames empty", `{"family":"frames","width":1,"height":1,"frames":[]}`, []string{`field "frames": 0 entries, want 1 to 100000`}},
		{"frames both", `{"family":"frames","width":1,"height":1,"frames":["AA=="],"path":"x.raw"}`, []string{`field "frames": given with "path", want one of them`}},
		{"frames missing file", `{"family":"frames","width":8,"height":4,"path":"testdata/missing.raw"}`, []string{`field "path": stat testdata/missing.raw: no such file or directory, want a raw file of 8-bit gray frames`}},
		{"frames raw size", `{"family":"frames","width":5,"height":5,"path":"testdata/frames.raw"}`, []string{`field "path": testdata/frames.raw has 64 bytes, want 1 to 100000 frames of width*height = 5x5 = 25 bytes`}},
		{"frames width zero", `{"family":"frames","width":0,"height":1,"frames":["AA=="]}`, []string{`field "width": 0 out of range [1,16384]`}},
		{"frames size alone", `{"family":"frames","width":16384,"height":16384}`, []string{`fields "width" and "height": given without "frames" or "path"`}},
		{"frames hold", `{"family":"frames","hold_frames":0}`, []string{`field "hold_frames": 0 out of range [1,2147483647]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq, err := New(json.RawMessage(tc.spec), 128, 72, 60)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.Nil(t, seq)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestValidationFieldSize(t *testing.T) {
	for _, f := range []string{"pink_noise", "natural", "images", "video"} {
		_, err := New(json.RawMessage(`{"family":"`+f+`"}`), 8192, 4097, 60)
		require.ErrorIs(t, err, rig.ErrInvalid)
		require.ErrorContains(t, err, `frame size 8192x4097: family "`+f+`" needs a 8192x8192 noise field, want at most 16777216 pixels`)
	}
}

func TestValidationRDKTooManyDots(t *testing.T) {
	_, err := New(json.RawMessage(`{"family":"rdk","density":10000}`), 16, 1024, 60)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, `field "density": 10000 dots per frame width squared gives 640000 dots in a 16x1024 frame, want at most 100000`)
}

func TestValidationCorruptVideo(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffmpeg is not installed")
	}
	_, err := New(json.RawMessage(`{"family":"video","path":"testdata/images/notes.txt"}`), 32, 18, 60)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, `field "path": testdata/images/notes.txt: ffprobe:`)
	require.ErrorContains(t, err, "want a video file ffmpeg can read")
}
