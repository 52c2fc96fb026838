package stimuli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// maxVideoFrames bounds "max_frames".
const maxVideoFrames = 1 << 20

// video shows frames decoded up front, resampled in time to the display
// rate: display frame i shows source frame floor(i * source_rate / rate),
// modulo the number of frames (the clip repeats).
type video struct {
	width, height int
	frames        [][]byte
	ratio         float64 // source_rate / rate
}

// Render draws frame index into dst.
func (v *video) Render(index int, dst []byte) {
	checkDst(dst, v.width, v.height)
	k := int(math.Floor(float64(index) * v.ratio))
	copy(dst, v.frames[mod(k, len(v.frames))])
}

func newVideo(p *params, seed uint64, width, height int, rateHz float64) Sequence {
	path := p.path("path")
	fit := p.str("fit", fitCover, fitModes...)
	maxFrames := p.int("max_frames", 1800, 1, maxVideoFrames)
	srcRate := p.float("source_rate_hz", 0, 0.001, MaxRateHz)
	if p.err() != nil {
		return nil
	}
	if path == "" {
		if !checkField(p, width, height) {
			return nil
		}
		// No file: the natural family's procedural video with its
		// defaults, so that a session needs no download.
		return buildNatural(seed, width, height, rateHz, 2, 0.25, 6, 0.05, 0.1)
	}
	// Memory bounds the frames kept as much as max_frames does.
	limit := min(maxFrames, int(maxStoreBytes/(int64(width)*int64(height))))
	var (
		frames [][]byte
		rate   float64
		err    error
	)
	if seq, globbed, gerr := sequencePaths(path); gerr != nil {
		err = gerr
	} else if globbed {
		if len(seq) > limit {
			seq = seq[:limit]
		}
		rate = 30
		for _, f := range seq {
			frame, ferr := loadPicture(f, width, height, fit)
			if ferr != nil {
				err = ferr
				break
			}
			frames = append(frames, frame)
		}
	} else {
		frames, rate, err = decodeVideo(path, width, height, fit, limit)
	}
	if err == nil && limit < maxFrames && len(frames) == limit {
		err = fmt.Errorf("%s: more than %d frames of %dx%d exceed %d bytes, want max_frames at most %d", path, limit, width, height, int64(maxStoreBytes), limit)
	}
	if err != nil {
		p.errorf("field %q: %v", "path", err)
		return nil
	}
	if srcRate > 0 {
		rate = srcRate
	}
	return &video{width: width, height: height, frames: frames, ratio: rate / rateHz}
}

// sequencePaths resolves an image sequence: a directory (its .png, .jpg
// and .jpeg files) or a glob pattern, sorted by name. ok is false when path
// is a plain file (a video).
func sequencePaths(path string) (files []string, ok bool, err error) {
	if strings.ContainsAny(path, "*?[") {
		files, err = filepath.Glob(path)
		if err != nil {
			return nil, false, fmt.Errorf("%q: %w, want a valid glob pattern", path, err)
		}
		if len(files) == 0 {
			return nil, false, fmt.Errorf("%q matches no files, want PNG or JPEG frames", path)
		}
		slices.Sort(files)
		return files, true, nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, false, fmt.Errorf("%w, want a video file, a directory of frames or a glob pattern", err)
	}
	if !info.IsDir() {
		return nil, false, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, false, fmt.Errorf("%w", err)
	}
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg":
			if !e.IsDir() {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	if len(files) == 0 {
		return nil, false, fmt.Errorf("directory %s holds no .png, .jpg or .jpeg files, want the frames of an image sequence", path)
	}
	slices.Sort(files) // ReadDir sorts already; kept explicit
	return files, true, nil
}

// errNoFFmpeg is returned when a video file is given but ffmpeg or
// ffprobe is not installed.
var errNoFFmpeg = errors.New("ffmpeg and ffprobe are needed to decode video files: install ffmpeg (Debian: apt-get install ffmpeg) or give the frames as an image sequence")

// decodeVideo decodes up to maxFrames frames of the first video stream of
// path with an ffmpeg subprocess (gray, every frame as stored, no frame
// rate conversion) and resamples each to width x height. It returns the
// frames and the stream's average frame rate.
func decodeVideo(path string, width, height int, fit string, maxFrames int) ([][]byte, float64, error) {
	ffmpeg, err1 := exec.LookPath("ffmpeg")
	ffprobe, err2 := exec.LookPath("ffprobe")
	if err1 != nil || err2 != nil {
		return nil, 0, errNoFFmpeg
	}
	var stderr bytes.Buffer
	probe := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height,avg_frame_rate", "-of", "csv=p=0", "--", path)
	probe.Stderr = &stderr
	out, err := probe.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("%s: ffprobe: %w: %s, want a video file ffmpeg can read", path, err, strings.TrimSpace(stderr.String()))
	}
	fields := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(fields) < 3 {
		return nil, 0, fmt.Errorf("%s: ffprobe found no video stream (%q), want a video file", path, strings.TrimSpace(string(out)))
	}
	sw, e1 := strconv.Atoi(fields[0])
	sh, e2 := strconv.Atoi(fields[1])
	rate, e3 := parseRate(fields[2])
	if e1 != nil || e2 != nil || e3 != nil || sw < 1 || sh < 1 || int64(sw)*int64(sh) > maxSourcePixel {
		return nil, 0, fmt.Errorf("%s: ffprobe reported %q, want a video of 1 to %d pixels with a frame rate", path, strings.TrimSpace(string(out)), maxSourcePixel)
	}
	stderr.Reset()
	cmd := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-i", path, "-map", "0:v:0",
		"-frames:v", strconv.Itoa(maxFrames),
		"-f", "rawvideo", "-pix_fmt", "gray", "-") // rawvideo has no timestamps: ffmpeg passes frames through without rate conversion
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, fmt.Errorf("%s: ffmpeg: %w", path, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("%s: ffmpeg: %w", path, err)
	}
	r := bufio.NewReaderSize(pipe, 1<<20)
	src := make([]byte, sw*sh)
	var frames [][]byte
	var readErr error
	for len(frames) < maxFrames {
		if _, err := io.ReadFull(r, src); err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
		f := make([]byte, width*height)
		resample(src, sw, sh, f, width, height, fit)
		frames = append(frames, f)
	}
	_, _ = io.Copy(io.Discard, r)
	if err := cmd.Wait(); err != nil {
		return nil, 0, fmt.Errorf("%s: ffmpeg: %w: %s, want a video file ffmpeg can decode", path, err, strings.TrimSpace(stderr.String()))
	}
	if readErr != nil {
		return nil, 0, fmt.Errorf("%s: reading ffmpeg's output: %w", path, readErr)
	}
	if len(frames) == 0 {
		return nil, 0, fmt.Errorf("%s: ffmpeg decoded no frames, want a video with at least one frame", path)
	}
	return frames, rate, nil
}

// parseRate parses ffprobe's "num/den" frame rate.
func parseRate(s string) (float64, error) {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		den = "1"
	}
	n, err1 := strconv.ParseFloat(num, 64)
	d, err2 := strconv.ParseFloat(den, 64)
	if err1 != nil || err2 != nil || !(n > 0) || !(d > 0) {
		return 0, fmt.Errorf("frame rate %q", s)
	}
	return n / d, nil
}
