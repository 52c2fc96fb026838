#!/usr/bin/env bash
# The GPU check of issue 11, for a machine with an NVIDIA GPU and no
# network. In under 5 minutes it:
#   1. fails at once, saying why, without a GPU (nvidia-smi), without the fnn
#      code (FNN_PATH), without a Python with PyTorch, or without ONNX
#      Runtime's CUDA provider in .deps/onnxruntime (`make setup-gpu`, run
#      where there is a network; the directory is ~275 MB);
#   2. builds fnnbench (Go and the module cache must be there; or build
#      bin/fnnbench elsewhere with `make gpu-check-build` and bring bin/);
#   3. checks that the provider, the driver, the CUDA 13 libraries and
#      cuDNN 9 load (the Python's nvidia-* wheels and torch/lib are added to
#      the library path when present);
#   4. exports fnn's MICrONS network with 10,000 units and random weights
#      (seed 0, --dynamic-batch) with tools/fnnexport, which checks the export
#      against fnn's PyTorch network;
#   5. runs the interleaved benchmark with the ONNX Runtime runners on
#      `device: cuda` (PyTorch on the CPU beside them), after comparing the
#      CUDA run with PyTorch's responses; the cost of copying the recurrent
#      state to the GPU and back on each step; batched Evaluate throughput;
#   6. prints one line per figure ("figure: ...") on stdout.
#
# Usage: FNN_PATH=<fnn checkout, holding fnn/microns/build.py> scripts/gpu-check.sh
# Environment: TWINRIG_PYTHON (default python3), THREADS (default: nproc,
# at most 8), BATCH_ROWS (16), TOLERANCE (1e-2: the largest relative
# error of the CUDA responses against PyTorch's; ONNX Runtime's CUDA
# provider uses TF32 by default), GPU_CHECK_DIR (runs/gpu-check), SKIP_TORCH
# (1: no PyTorch runner in the benchmark), GPU_CHECK_CPU_OK (1: go on when
# CUDA cannot be used, on the CPU: only for trying the script out without
# a GPU, with a stand-in nvidia-smi; no figure of such a run is a GPU's).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'gpu-check: %s\n' "$*" >&2; }
fail() {
	say "FAIL: $*"
	exit 1
}
start=$SECONDS
stage() { say "[$((SECONDS - start)) s] $*"; }

# 1. What must be here.
if ! command -v nvidia-smi >/dev/null; then
	fail "no GPU: nvidia-smi is not installed (no NVIDIA driver on this machine)"
fi
gpus=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null) ||
	fail "no GPU: nvidia-smi cannot reach a GPU ($(nvidia-smi 2>&1 | head -n 1))"
[ -n "$gpus" ] || fail "no GPU: nvidia-smi lists none"
gpu=$(head -n 1 <<<"$gpus")
stage "GPU: $gpu"

[ -n "${FNN_PATH:-}" ] || fail "FNN_PATH is not set: point it at a checkout of the fnn code (the directory holding fnn/microns/build.py)"
[ -f "$FNN_PATH/fnn/microns/build.py" ] || fail "FNN_PATH=$FNN_PATH has no fnn/microns/build.py"
FNN_PATH=$(cd "$FNN_PATH" && pwd)

PY=${TWINRIG_PYTHON:-python3}
command -v "$PY" >/dev/null || fail "no Python: $PY not found (set TWINRIG_PYTHON)"
torch_version=$("$PY" -c 'import numpy, torch; print(torch.__version__)' 2>/dev/null) ||
	fail "$PY cannot import torch and numpy (set TWINRIG_PYTHON to a Python with PyTorch)"
stage "Python $PY, PyTorch $torch_version"

ORT_DIR=.deps/onnxruntime
for f in libonnxruntime.so.1 libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do
	[ -f "$ORT_DIR/$f" ] || fail "$ORT_DIR/$f is missing: run \`make setup-gpu\` where there is a network and bring $ORT_DIR here"
done

# 2. Build, offline.
mkdir -p bin
if command -v go >/dev/null; then
	command -v gcc >/dev/null || fail "gcc is missing: Go needs it to build the ONNX Runtime bindings (cgo)"
	stage "building fnnbench"
	GOPROXY=off go build -o bin/fnnbench ./tools/fnnexport/cmd/fnnbench ||
		fail "go build failed; without a network Go's module cache must hold twinrig's modules, or build bin/fnnbench elsewhere (\`make gpu-check-build\`) and bring bin/"
elif [ -x bin/fnnbench ]; then
	stage "no Go here: using the prebuilt bin/fnnbench"
else
	fail "neither Go nor a prebuilt bin/fnnbench (\`make gpu-check-build\` elsewhere, then bring bin/)"
fi

# 3. The CUDA libraries: the Python's nvidia-* wheels and torch/lib, after
# whatever the library path already holds.
extra=$("$PY" - <<'EOF'
import glob, os, sys
dirs = []
for p in sys.path:
    for d in glob.glob(os.path.join(p, "nvidia", "*", "lib")) + [os.path.join(p, "torch", "lib")]:
        if os.path.isdir(d) and d not in dirs:
            dirs.append(d)
print(":".join(dirs))
EOF
)
if [ -n "$extra" ]; then
	export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$extra
fi
cuda=$(bin/fnnbench -check-cuda) || [ "${GPU_CHECK_CPU_OK:-}" = 1 ] || fail "$cuda"
stage "$cuda"

# 4. Export and check against PyTorch.
dir=${GPU_CHECK_DIR:-runs/gpu-check}
mkdir -p "$dir"
threads=${THREADS:-$(($(nproc) < 8 ? $(nproc) : 8))}
src=(microns --fnn-path "$FNN_PATH" --random-weights 10000 --seed 0)
stage "exporting fnn, 10,000 units, random weights (seed 0), --dynamic-batch, into $dir"
timeout 180 "$PY" tools/fnnexport/fnn_export.py "${src[@]}" --dynamic-batch --threads "$threads" \
	--out "$dir/r10k.onnx" >"$dir/export.json" 2>"$dir/export.log" ||
	fail "the export failed or took over 180 s: see $dir/export.log ($(tail -n 1 "$dir/export.log"))"

# 5. The benchmark on the GPU.
torch_args=(-- "${src[@]}")
[ "${SKIP_TORCH:-}" != 1 ] || torch_args=()
stage "benchmark on device: cuda"
timeout 240 bin/fnnbench -model "$dir/r10k.onnx" -device cuda -threads "$threads" -rounds 10 -frames 20 -warmup 5 \
	-batch-rows "${BATCH_ROWS:-16}" -batch-steps 8 ${torch_args[@]+"${torch_args[@]}"} \
	>"$dir/bench.json" 2>"$dir/bench.log" ||
	fail "the benchmark failed or took over 240 s: see $dir/bench.log ($(tail -n 1 "$dir/bench.log"))"

# 6. One line per figure.
"$PY" - "$dir/export.json" "$dir/bench.json" "$gpu" "${TOLERANCE:-1e-2}" "$((SECONDS - start))" <<'EOF'
import json, os, sys

export = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
bench = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
gpu, tol, wall = sys.argv[3], float(sys.argv[4]), sys.argv[5]
ms = bench["median_ms_per_frame"]
print(f"figure: gpu: {gpu}")
print(f"figure: export vs fnn's pytorch network, max relative error over {export['steps']} steps: {export['torch_explicit_max_rel_err']:.3g}")
print(f"figure: onnx runtime on {bench['device']} vs pytorch's responses, max relative error: {bench['check_max_rel_err_vs_reference']:.3g} (features {bench['check_features_max_scaled_err']:.3g} of scale)")
print(f"figure: ms/frame, bare onnx runtime on {bench['device']}, 10,000 units: {ms['onnxruntime']:.2f}")
print(f"figure: ms/frame, plugin PredictStream on {bench['device']}, 10,000 units: {ms['plugin']:.2f}")
if ms.get("pytorch"):
    print(f"figure: ms/frame, fnn's pytorch step on the cpu ({bench['threads']} threads): {ms['pytorch']:.1f}")
st = bench.get("state_transfer")
if st:
    what = "state copies host<->gpu" if st["device"] == "cuda" else "state probe on the cpu (nothing copied)"
    print(f"figure: {what}: {st['bytes_per_step'] / 1e6:.1f} MB/step, {st['ms_per_step']:.2f} ms/step "
          f"({st['gb_per_s']:.1f} GB/s, {100 * st['share_of_bare_step']:.0f} % of the bare step)")
b = bench.get("batch")
if b:
    print(f"figure: batched Evaluate on {b['device']}, {b['rows']} rows: {b['candidate_steps_per_second']:.0f} candidate-steps/s")
print(f"figure: wall time of the check: {wall} s")
bad = []
if bench["device"] != "cuda" and os.environ.get("GPU_CHECK_CPU_OK") != "1":
    bad.append(f"the benchmark ran on {bench['device']}, not cuda")
if not bench["check_max_rel_err_vs_reference"] <= tol:
    bad.append(f"onnx runtime's responses differ from pytorch's by {bench['check_max_rel_err_vs_reference']:.3g} > {tol:g}")
for m in bad:
    print("gpu-check: FAIL:", m, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
stage "done"
