package tests

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSelfContained fails when a tracked file points outside the
// repository: at the notes kept beside the checkout (a parent directory's
// shared folder, or its science, style and dependency notes by name). The
// facts those notes held live in docs/science.md and docs/dependencies.md;
// cite those instead. A bare note name is allowed only when the repository
// itself tracks a file of that name.
func TestSelfContained(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("not a git checkout (git ls-files: %v)", err)
	}
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")

	// The patterns are assembled from pieces so that this file does not
	// match them itself. Note names are matched case-sensitively in upper
	// case, so docs/science.md is fine.
	notes := strings.ToUpper("science|style|dependencies")
	parentShared := regexp.MustCompile(regexp.QuoteMeta("..") + `[/\\]shared\b`)
	sharedNote := regexp.MustCompile(`shared/(` + notes + `)\.md`)
	bareNote := regexp.MustCompile(`\b(` + notes + `)\.md\b`)

	tracked := map[string]bool{}
	for _, f := range files {
		tracked[path.Base(f)] = true
	}

	for _, f := range files {
		if f == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			continue // deleted in the working tree, or not a regular file
		}
		if bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0 {
			continue // binary
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, len(data)+1)
		for line := 1; sc.Scan(); line++ {
			text := sc.Text()
			var what string
			switch {
			case parentShared.MatchString(text):
				what = parentShared.FindString(text)
			case sharedNote.MatchString(text):
				what = sharedNote.FindString(text)
			default:
				for _, m := range bareNote.FindAllString(text, -1) {
					if !tracked[m] {
						what = m
						break
					}
				}
			}
			if what != "" {
				t.Errorf("%s:%d: refers to %q outside the repository; cite docs/science.md or docs/dependencies.md instead: %s",
					f, line, what, strings.TrimSpace(text))
			}
		}
	}
}
