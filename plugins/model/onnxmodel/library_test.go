package onnxmodel

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// touch creates an empty file, with its parent directories.
func touch(t *testing.T, path string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	return path
}

func TestLocate(t *testing.T) {
	root := t.TempDir()
	touch(t, filepath.Join(root, "repo", "go.mod"))
	repoLib := touch(t, filepath.Join(root, "repo", LibraryRelPath))
	touch(t, filepath.Join(root, "bare", "go.mod"))
	exeLib := touch(t, filepath.Join(root, "install", LibraryRelPath))
	explicit := touch(t, filepath.Join(root, "explicit.so"))
	fromEnv := touch(t, filepath.Join(root, "env.so"))
	missing := filepath.Join(root, "missing.so")
	deepWD := filepath.Join(root, "repo", "plugins", "model", "onnxmodel")
	require.NoError(t, os.MkdirAll(deepWD, 0o755))
	bareWD := filepath.Join(root, "bare", "pkg")
	require.NoError(t, os.MkdirAll(bareWD, 0o755))
	noExe := filepath.Join(root, "nowhere", "bin", "x")

	tests := []struct {
		name            string
		explicit, env   string
		envSet          bool
		exe, wd         string
		want            string
		wantErrContains []string
	}{
		{name: "explicit wins", explicit: explicit, env: fromEnv, envSet: true, exe: filepath.Join(root, "install", "bin", "p"), wd: deepWD, want: explicit},
		{name: "explicit missing", explicit: missing, env: fromEnv, envSet: true, wd: deepWD,
			wantErrContains: []string{missing, "ort_library", "make setup", LibraryEnv}},
		{name: "env wins over search", env: fromEnv, envSet: true, exe: filepath.Join(root, "install", "bin", "p"), wd: deepWD, want: fromEnv},
		{name: "env missing", env: missing, envSet: true, wd: deepWD,
			wantErrContains: []string{missing, "$" + LibraryEnv, "make setup"}},
		{name: "empty env is unset", env: "", envSet: true, exe: noExe, wd: deepWD, want: repoLib},
		{name: "next to executable", exe: filepath.Join(root, "install", "bin", "p"), wd: deepWD, want: exeLib},
		{name: "walk up to go.mod", exe: noExe, wd: deepWD, want: repoLib},
		{name: "walk stops at go.mod", exe: noExe, wd: bareWD,
			wantErrContains: []string{"not found", filepath.Join(bareWD, LibraryRelPath), filepath.Join(root, "bare", LibraryRelPath), "make setup", LibraryEnv, RequiredVersion}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := locate(tc.explicit, tc.env, tc.envSet, tc.exe, tc.wd)
			if tc.wantErrContains != nil {
				require.Error(t, err)
				msg := err.Error()
				require.NotContains(t, msg, "\n", "the message must be one line")
				for _, w := range tc.wantErrContains {
					require.Contains(t, msg, w)
				}
				require.NotContains(t, msg, filepath.Join(root, "repo"), "the walk must stop at the first go.mod")
				return
			}
			require.NoError(t, err)
			require.Equal(t, filepath.Clean(tc.want), filepath.Clean(got))
		})
	}
}

// fakeORT is a shared library whose OrtGetApiBase reports version 1.10.0
// and offers no API version 29, as an old ONNX Runtime does.
const fakeORT = `
#include <stddef.h>
typedef struct {
	const void *(*GetApi)(unsigned version);
	const char *(*GetVersionString)(void);
} Base;
static const void *get_api(unsigned version) { (void)version; return NULL; }
static const char *version(void) { return "1.10.0"; }
static const Base base = { get_api, version };
const Base *OrtGetApiBase(void) { return &base; }
`

// TestInitErrors runs Init in a fresh process (the test binary itself, see
// TestHelperInit), because a process initialises ONNX Runtime only once.
func TestInitErrors(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "libonnxruntime.so.1")
	require.NoError(t, os.WriteFile(notELF, []byte("not a library\n"), 0o644))

	cases := []struct {
		name string
		lib  func(t *testing.T) string
		want []string
	}{
		{"not a shared library", func(*testing.T) string { return notELF },
			[]string{"cannot load onnx runtime library", notELF, "make setup"}},
		{"old api version", func(t *testing.T) string {
			cc, err := exec.LookPath("cc")
			if err != nil {
				t.Skip("no C compiler to build a fake old ONNX Runtime (cgo needs one anyway)")
			}
			src := filepath.Join(dir, "fake.c")
			lib := filepath.Join(dir, "libfake.so")
			require.NoError(t, os.WriteFile(src, []byte(fakeORT), 0o644))
			out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput()
			require.NoError(t, err, "build fake library: %s", out)
			return lib
		}, []string{"is too old", "libfake.so", "ONNX Runtime " + RequiredVersion, "make setup"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lib := tc.lib(t)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperInit$")
			cmd.Env = append(os.Environ(), "TWINRIG_TEST_INIT_LIBRARY="+lib)
			out, err := cmd.Output()
			require.NoError(t, err, "helper process failed: %s", out)
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			var msg string
			for _, l := range lines {
				if m, ok := strings.CutPrefix(l, "INIT ERROR: "); ok {
					msg = m
				}
			}
			require.NotEmpty(t, msg, "helper output: %s", out)
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
		})
	}
}

// TestHelperInit is not a test: TestInitErrors runs it in a child process.
func TestHelperInit(t *testing.T) {
	lib := os.Getenv("TWINRIG_TEST_INIT_LIBRARY")
	if lib == "" {
		t.Skip("helper for TestInitErrors")
	}
	err := Init(lib)
	if err == nil {
		os.Stdout.WriteString("INIT OK\n")
		return
	}
	if strings.Contains(err.Error(), "\n") {
		os.Stdout.WriteString("INIT ERROR: multi-line error\n")
		return
	}
	os.Stdout.WriteString("INIT ERROR: " + err.Error() + "\n")
}
