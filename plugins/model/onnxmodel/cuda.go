package onnxmodel

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// twinrig_dlopen opens a shared library by name the way the dynamic linker
// would for a NEEDED entry, and returns its handle or NULL; *err receives
// dlerror's message (owned by libc) on failure.
static void *twinrig_dlopen(const char *name, const char **err) {
	void *h = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
	*err = h ? NULL : dlerror();
	return h;
}

// twinrig_cuda_device_count initialises the CUDA driver API of libcuda
// handle h and counts the devices. It returns the CUDA error code (0 for
// success), or -1 when the driver lacks cuInit or cuDeviceGetCount.
static int twinrig_cuda_device_count(void *h, int *count) {
	typedef int (*init_fn)(unsigned int);
	typedef int (*count_fn)(int *);
	init_fn init = (init_fn)dlsym(h, "cuInit");
	count_fn cnt = (count_fn)dlsym(h, "cuDeviceGetCount");
	if (!init || !cnt) return -1;
	int rc = init(0);
	if (rc != 0) return rc;
	return cnt(count);
}
*/
import "C"

import (
	"fmt"
	"path/filepath"
	"sync"
	"unsafe"
)

// The CUDA execution provider's files, which ONNX Runtime loads from the
// directory of its own library (`make setup-gpu` installs them there).
const (
	CUDAProviderLibrary   = "libonnxruntime_providers_cuda.so"
	SharedProviderLibrary = "libonnxruntime_providers_shared.so"
)

// cudaLibrary is a library the CUDA provider needs at run time.
type cudaLibrary struct {
	names []string // sonames to try, in order
	what  string
}

// cudaDriver is the NVIDIA driver's CUDA library; cudaLibraries are what
// the provider of ONNX Runtime 1.29 links (the CUDA 13 runtime) and cuDNN,
// which it opens when it starts.
var (
	cudaDriver    = cudaLibrary{[]string{"libcuda.so.1"}, "the NVIDIA driver's CUDA library"}
	cudaLibraries = []cudaLibrary{
		{[]string{"libcudart.so.13"}, "the CUDA 13 runtime"},
		{[]string{"libcublas.so.13"}, "cuBLAS for CUDA 13"},
		{[]string{"libcublasLt.so.13"}, "cuBLASLt for CUDA 13"},
		{[]string{"libcurand.so.10"}, "cuRAND for CUDA 13"},
		{[]string{"libcudnn.so.9", "libcudnn.so"}, "cuDNN 9"},
	}
)

// cudaSystem is what checkCUDA needs from the machine; tests replace it.
type cudaSystem interface {
	// isFile reports whether path is a regular file.
	isFile(path string) bool
	// open loads a shared library by soname.
	open(name string) error
	// deviceCount returns how many CUDA devices the driver (already opened)
	// sees.
	deviceCount() (int, error)
}

// CheckCUDA returns nil when ONNX Runtime's CUDA execution provider can be
// expected to load beside the ONNX Runtime library at library: the
// provider's two files are in its directory, the NVIDIA driver loads and
// sees at least one GPU, and the CUDA 13 libraries the provider links and
// cuDNN 9 load from the library path. Otherwise its error names the first
// thing missing and how to fix it. Loading a library has no effect other
// than that it stays loaded.
func CheckCUDA(library string) error {
	return checkCUDA(library, hostSystem{})
}

func checkCUDA(library string, sys cudaSystem) error {
	dir := filepath.Dir(library)
	for _, f := range []string{CUDAProviderLibrary, SharedProviderLibrary} {
		if p := filepath.Join(dir, f); !sys.isFile(p) {
			return fmt.Errorf("%s not found beside the onnx runtime library (%s): run `make setup-gpu`", f, p)
		}
	}
	if err := openAny(sys, cudaDriver); err != nil {
		return fmt.Errorf("no nvidia driver: %w", err)
	}
	n, err := sys.deviceCount()
	if err != nil {
		return fmt.Errorf("no cuda device: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("no cuda device: the driver sees 0 gpus")
	}
	for _, lib := range cudaLibraries {
		if err := openAny(sys, lib); err != nil {
			return fmt.Errorf("cuda libraries missing: %w (put them on LD_LIBRARY_PATH)", err)
		}
	}
	return nil
}

// openAny opens the first of lib's sonames that loads; its error names
// them all and gives the loader's message for the first.
func openAny(sys cudaSystem, lib cudaLibrary) error {
	var first error
	for _, name := range lib.names {
		err := sys.open(name)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return fmt.Errorf("%s (%s) does not load: %w", lib.what, joinNames(lib.names), first)
}

func joinNames(names []string) string {
	s := names[0]
	for _, n := range names[1:] {
		s += " or " + n
	}
	return s
}

// hostSystem is the real machine.
type hostSystem struct{}

func (hostSystem) isFile(p string) bool { return isFile(p) }

var (
	dlMu       sync.Mutex
	cudaHandle unsafe.Pointer // libcuda.so.1, once opened
)

func (hostSystem) open(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	dlMu.Lock()
	defer dlMu.Unlock()
	var msg *C.char
	h := C.twinrig_dlopen(cname, &msg)
	if h == nil {
		return fmt.Errorf("%s", oneLine(C.GoString(msg)))
	}
	if name == cudaDriver.names[0] {
		cudaHandle = h
	}
	// Other handles stay open on purpose: the provider loads the same
	// libraries, and closing them would only make it load them again.
	return nil
}

func (hostSystem) deviceCount() (int, error) {
	dlMu.Lock()
	defer dlMu.Unlock()
	if cudaHandle == nil {
		return 0, fmt.Errorf("%s is not loaded", cudaDriver.names[0])
	}
	var n C.int
	rc := C.twinrig_cuda_device_count(cudaHandle, &n)
	switch {
	case rc == -1:
		return 0, fmt.Errorf("%s lacks cuInit or cuDeviceGetCount", cudaDriver.names[0])
	case rc == 100:
		return 0, fmt.Errorf("the driver reports no cuda-capable device (CUDA error 100)")
	case rc != 0:
		return 0, fmt.Errorf("cuInit or cuDeviceGetCount failed with CUDA error %d", int(rc))
	}
	return int(n), nil
}
