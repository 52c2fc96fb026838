package onnxmodel

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// The ONNX Runtime library the bindings need, and where to find it.
const (
	// LibraryEnv names the environment variable that may hold the full path
	// of the ONNX Runtime shared library.
	LibraryEnv = "ONNXRUNTIME_SHARED_LIBRARY_PATH"
	// LibraryRelPath is where `make setup` installs the library, relative to
	// the repository root.
	LibraryRelPath = ".deps/onnxruntime/libonnxruntime.so.1"
	// RequiredVersion is the ONNX Runtime release whose C API (version 29)
	// the bindings (onnxruntime_go v1.36.0) were built against. Newer
	// releases also work.
	RequiredVersion = "1.29.0"
)

const fixHint = "run `make setup` or set " + LibraryEnv + " to the full path of libonnxruntime.so.1 (ONNX Runtime " + RequiredVersion + ")"

// LocateLibrary returns the ONNX Runtime shared library to load. It tries,
// in order, and takes the first that applies:
//  1. explicit, when not empty (a setting such as "ort_library"): it must
//     exist;
//  2. $ONNXRUNTIME_SHARED_LIBRARY_PATH, when set: it must exist;
//  3. <directory of the executable>/../.deps/onnxruntime/libonnxruntime.so.1;
//  4. .deps/onnxruntime/libonnxruntime.so.1 in the working directory and each
//     parent up to the first one holding go.mod (so that `go test` finds the
//     library from any package directory).
//
// When nothing is found the error is one line that lists what was looked
// for and how to fix it.
func LocateLibrary(explicit string) (string, error) {
	exe, _ := os.Executable()
	wd, _ := os.Getwd()
	env, envSet := os.LookupEnv(LibraryEnv)
	return locate(explicit, env, envSet, exe, wd)
}

func locate(explicit, env string, envSet bool, exe, wd string) (string, error) {
	if explicit != "" {
		if !isFile(explicit) {
			return "", fmt.Errorf("onnx runtime library %q (ort_library setting) does not exist; %s", explicit, fixHint)
		}
		return explicit, nil
	}
	if envSet && env != "" {
		if !isFile(env) {
			return "", fmt.Errorf("onnx runtime library %q (from $%s) does not exist; %s", env, LibraryEnv, fixHint)
		}
		return env, nil
	}
	var tried []string
	if exe != "" {
		p := filepath.Join(filepath.Dir(exe), "..", LibraryRelPath)
		if isFile(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	if wd != "" {
		dir := wd
		for {
			p := filepath.Join(dir, LibraryRelPath)
			if isFile(p) {
				return p, nil
			}
			if !slices.Contains(tried, p) {
				tried = append(tried, p)
			}
			parent := filepath.Dir(dir)
			if isFile(filepath.Join(dir, "go.mod")) || parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("onnx runtime library not found: $%s is unset and none of %s exists; %s",
		LibraryEnv, strings.Join(tried, ", "), fixHint)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

var (
	initMu   sync.Mutex
	initPath string // the library the environment was initialised with
)

// Init loads the ONNX Runtime library and creates the process-wide ONNX
// Runtime environment, once: later calls return nil at once. A later call
// that names a different library does not load it: it fails if that file
// does not exist and logs a warning otherwise. A failed
// call leaves nothing initialised, so a later call may try another path.
// library is passed to LocateLibrary. Init is safe for concurrent use.
//
// A library with an older C API than the bindings need fails with a one-line
// error naming RequiredVersion.
func Init(library string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if ort.IsInitialized() {
		if library != "" && library != initPath {
			if _, err := LocateLibrary(library); err != nil {
				return err
			}
			slog.Warn("onnx runtime already initialised; ignoring another library path",
				"loaded", initPath, "requested", library)
		}
		return nil
	}
	path, err := LocateLibrary(library)
	if err != nil {
		return err
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return libraryError(path, err)
	}
	initPath = path
	return nil
}

// loadedLibrary returns the path of the library Init loaded ("" before).
func loadedLibrary() string {
	initMu.Lock()
	defer initMu.Unlock()
	return initPath
}

// libraryError turns the bindings' initialisation errors into one line that
// says what to do.
func libraryError(path string, err error) error {
	msg := oneLine(err.Error())
	// The bindings report GetApi(ORT_API_VERSION) == NULL as code 2; ONNX
	// Runtime itself prints "The requested API version [29] is not
	// available" to stderr.
	if strings.Contains(msg, "Error setting ORT API base: 2") || strings.Contains(msg, "API version") {
		// ort.GetVersion must not be called here: the bindings have already
		// unloaded the library its answer points into.
		return fmt.Errorf("onnx runtime library %q is too old: it lacks C API version 29, so ONNX Runtime %s or newer is needed; %s",
			path, RequiredVersion, fixHint)
	}
	return fmt.Errorf("cannot load onnx runtime library %q: %s; %s", path, msg, fixHint)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// errNotInitialised is returned by functions that need Init first.
var errNotInitialised = errors.New("onnx runtime is not initialised: call onnxmodel.Init first")
