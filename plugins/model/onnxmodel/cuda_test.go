package onnxmodel

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeSystem is a machine with the given files, loadable libraries and
// CUDA devices.
type fakeSystem struct {
	files   map[string]bool
	libs    map[string]bool
	devices int
	devErr  error
	opened  []string
}

func (f *fakeSystem) isFile(p string) bool { return f.files[p] }

func (f *fakeSystem) open(name string) error {
	f.opened = append(f.opened, name)
	if !f.libs[name] {
		return errors.New(name + ": cannot open shared object file: No such file or directory")
	}
	return nil
}

func (f *fakeSystem) deviceCount() (int, error) { return f.devices, f.devErr }

// gpuMachine is a machine where everything the CUDA provider needs is
// present, its ONNX Runtime library in dir.
func gpuMachine(dir string) *fakeSystem {
	return &fakeSystem{
		files: map[string]bool{
			filepath.Join(dir, CUDAProviderLibrary):   true,
			filepath.Join(dir, SharedProviderLibrary): true,
		},
		libs: map[string]bool{
			"libcuda.so.1": true, "libcudart.so.13": true, "libcublas.so.13": true,
			"libcublasLt.so.13": true, "libcurand.so.10": true, "libcudnn.so.9": true,
		},
		devices: 1,
	}
}

func TestCheckCUDA(t *testing.T) {
	const dir = "/opt/ort"
	lib := filepath.Join(dir, "libonnxruntime.so.1")
	require.NoError(t, checkCUDA(lib, gpuMachine(dir)))

	cases := []struct {
		name   string
		change func(*fakeSystem)
		want   []string
	}{
		{"no provider", func(f *fakeSystem) { delete(f.files, filepath.Join(dir, CUDAProviderLibrary)) },
			[]string{CUDAProviderLibrary, "not found beside", filepath.Join(dir, CUDAProviderLibrary), "make setup-gpu"}},
		{"no shared provider", func(f *fakeSystem) { delete(f.files, filepath.Join(dir, SharedProviderLibrary)) },
			[]string{SharedProviderLibrary, "make setup-gpu"}},
		{"no driver", func(f *fakeSystem) { delete(f.libs, "libcuda.so.1") },
			[]string{"no nvidia driver", "libcuda.so.1", "cannot open shared object file"}},
		{"no gpu", func(f *fakeSystem) { f.devices = 0 }, []string{"no cuda device", "0 gpus"}},
		{"driver error", func(f *fakeSystem) { f.devErr = errors.New("CUDA error 999") }, []string{"no cuda device", "CUDA error 999"}},
		{"no cudart", func(f *fakeSystem) { delete(f.libs, "libcudart.so.13") },
			[]string{"the CUDA 13 runtime", "libcudart.so.13", "LD_LIBRARY_PATH"}},
		{"no cublasLt", func(f *fakeSystem) { delete(f.libs, "libcublasLt.so.13") }, []string{"libcublasLt.so.13"}},
		{"no curand", func(f *fakeSystem) { delete(f.libs, "libcurand.so.10") }, []string{"libcurand.so.10"}},
		{"no cudnn", func(f *fakeSystem) { delete(f.libs, "libcudnn.so.9") },
			[]string{"cuDNN 9", "libcudnn.so.9 or libcudnn.so", "libcudnn.so.9: cannot open"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sys := gpuMachine(dir)
			c.change(sys)
			err := checkCUDA(lib, sys)
			require.Error(t, err)
			for _, w := range c.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}

	// cuDNN under its unversioned name is enough.
	sys := gpuMachine(dir)
	delete(sys.libs, "libcudnn.so.9")
	sys.libs["libcudnn.so"] = true
	require.NoError(t, checkCUDA(lib, sys))
	require.Equal(t, []string{"libcuda.so.1", "libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13",
		"libcurand.so.10", "libcudnn.so.9", "libcudnn.so"}, sys.opened)
}

// TestCheckCUDAHost runs the real check on this machine: it may pass only
// where a GPU, its driver and the provider are present.
func TestCheckCUDAHost(t *testing.T) {
	err := CheckCUDA(filepath.Join(t.TempDir(), "libonnxruntime.so.1"))
	require.ErrorContains(t, err, CUDAProviderLibrary+" not found beside")
}

// TestCheckCUDAHostWithProvider gets past the provider files (empty
// stand-ins) to the driver and libraries of this machine.
func TestCheckCUDAHostWithProvider(t *testing.T) {
	dir := t.TempDir()
	touch(t, filepath.Join(dir, CUDAProviderLibrary))
	touch(t, filepath.Join(dir, SharedProviderLibrary))
	err := CheckCUDA(filepath.Join(dir, "libonnxruntime.so.1"))
	if err == nil {
		t.Log("a GPU and the CUDA libraries are present")
		return
	}
	require.NotContains(t, err.Error(), "not found beside")
	t.Log(err)
}
