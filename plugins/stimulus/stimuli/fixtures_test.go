package stimuli

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Fixture files of the file-based families live in testdata and are
// written by `go test -run TestFixtures -update` from the functions below.

// seqFrames is the number of frames of the image-sequence fixture.
const seqFrames = 6

// seqFrame is frame k of the image-sequence fixture: 32x18, a bright
// vertical bar 4 pixels wide at column 4k on a dark ground.
func seqFrame(k int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, 32, 18))
	for r := range 18 {
		for c := range 32 {
			v := byte(20)
			if c >= 4*k && c < 4*k+4 {
				v = 230
			}
			img.Pix[r*img.Stride+c] = v
		}
	}
	return img
}

// fixtureImages are the still-image fixtures by file name.
func fixtureImages() map[string]image.Image {
	grad := image.NewGray(image.Rect(0, 0, 40, 30)) // landscape 4:3, gray
	for r := range 30 {
		for c := range 40 {
			grad.Pix[r*grad.Stride+c] = byte(c * 6)
		}
	}
	rgb := image.NewRGBA(image.Rect(0, 0, 30, 40)) // portrait, colour
	for r := range 40 {
		for c := range 30 {
			rgb.Set(c, r, color.RGBA{R: byte(r * 6), G: 100, B: byte(c * 8), A: 255})
		}
	}
	checker := image.NewGray(image.Rect(0, 0, 64, 36)) // 16:9, for JPEG
	for r := range 36 {
		for c := range 64 {
			checker.Pix[r*checker.Stride+c] = byte(60 + 120*((r/9+c/16)%2))
		}
	}
	return map[string]image.Image{"gradient.png": grad, "colour.png": rgb, "checker.jpg": checker}
}

// encodeFixture encodes img as PNG or JPEG by the file name's extension.
func encodeFixture(name string, img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	if filepath.Ext(name) == ".jpg" {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	} else {
		err = png.Encode(&buf, img)
	}
	return buf.Bytes(), err
}

// fixtureFiles returns every fixture file's path and content.
func fixtureFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for name, img := range fixtureImages() {
		data, err := encodeFixture(name, img)
		require.NoError(t, err)
		files[filepath.Join("testdata", "images", name)] = data
	}
	for k := range seqFrames {
		data, err := encodeFixture("f.png", seqFrame(k))
		require.NoError(t, err)
		files[filepath.Join("testdata", "sequence", fmt.Sprintf("frame%03d.png", k))] = data
	}
	files[filepath.Join("testdata", "images", "corrupt.png")] = []byte("\x89PNG\r\n\x1a\nthis is not a PNG")
	files[filepath.Join("testdata", "images", "notes.txt")] = []byte("not an image\n")
	raw := make([]byte, 2*8*4) // two 8x4 frames: a ramp and its inverse
	for i := range 32 {
		raw[i] = byte(i * 8)
		raw[32+i] = 255 - byte(i*8)
	}
	files[filepath.Join("testdata", "frames.raw")] = raw
	return files
}

func TestFixtures(t *testing.T) {
	files := fixtureFiles(t)
	for path, data := range files {
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, data, 0o644))
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "fixture missing: run go test -run TestFixtures -update")
		switch {
		case filepath.Ext(path) == ".jpg":
			// Lossy: the JPEG encoder may change with the Go release.
		case filepath.Ext(path) == ".png" && filepath.Base(path) != "corrupt.png":
			// The PNG encoder's bytes may change with the Go release; the
			// pixels may not.
			want, err := png.Decode(bytes.NewReader(data))
			require.NoError(t, err)
			have, err := png.Decode(bytes.NewReader(got))
			require.NoError(t, err, path)
			require.Equal(t, want, have, "fixture %s differs from its generator (-update rewrites it)", path)
		default:
			require.Equal(t, data, got, "fixture %s differs from its generator (-update rewrites it)", path)
		}
	}
}
