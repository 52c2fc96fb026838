#!/usr/bin/env bash
# Installs what twinrig needs on a Debian 12 machine, idempotently: a second
# run checks and does no network work.
#   - Debian packages, each only when its command is missing: gcc (cgo),
#     protobuf-compiler (make generate), ffmpeg (video stimuli from files),
#     xvfb + xauth (display tests), mosquitto (external-broker tests), npm
#     (only while the ONNX Runtime library is missing);
#   - the ONNX Runtime shared library, ORT 1.29.0 (the API onnxruntime_go
#     v1.36.0 needs), from the npm package onnxruntime-node, verified by sha256,
#     into .deps/onnxruntime/ (git-ignored);
#   - the protobuf code generators, pinned, into .deps/bin/;
#   - only with --gpu, or when a CONFIG given asks for `device: cuda`: ONNX
#     Runtime's CUDA execution provider for that library
#     (libonnxruntime_providers_cuda.so, ~230 MB, and
#     libonnxruntime_providers_shared.so) from the npm package
#     com.github.asus4.onnxruntime.linux-x64-gpu, verified by sha256, beside
#     it. The CUDA 13 libraries and cuDNN 9 it needs are not installed
#     (docs/dependencies.md).
#
# Usage: scripts/setup.sh [--gpu] [CONFIG...]
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.29.0
ORT_SHA256=89688f5cf51c7e31befbb7b9101bc027799009b18d1baa9a5b1146a72e69538d
ORT_DIR=.deps/onnxruntime
ORT_LIB=$ORT_DIR/libonnxruntime.so.1
# The CUDA provider built for ORT 1.29.0, and the sha256 of each file.
CUDA_PKG=com.github.asus4.onnxruntime.linux-x64-gpu
CUDA_PKG_VERSION=0.4.9
CUDA_PKG_DIR=package/Plugins/Linux/x64
CUDA_PROVIDER_SHA256=56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037
CUDA_SHARED_SHA256=c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772
PROTOC_GEN_GO=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

say() { printf 'setup: %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		say "need root or sudo to run: $*"; exit 1
	fi
}

have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]; }

# apt_install takes command:package pairs and installs the packages whose
# command is missing (a command may come from elsewhere, e.g. npm with a
# Node.js that was not installed from Debian).
apt_updated=
apt_install() {
	local missing=()
	for pair in "$@"; do
		have "${pair%%:*}" || missing+=("${pair#*:}")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if ! command -v apt-get >/dev/null; then
		say "missing packages ${missing[*]} and no apt-get: install them by hand"; exit 1
	fi
	say "installing Debian packages: ${missing[*]}"
	if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ort_ok() { [ -f "$ORT_LIB" ] && echo "$ORT_SHA256  $ORT_LIB" | sha256sum --check --status; }

install_ort() {
	ort_ok && return 0
	apt_install npm:npm
	say "fetching the ONNX Runtime $ORT_VERSION library (npm package onnxruntime-node, ~112 MB)"
	local tmp
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
	tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	local got
	got=$(sha256sum "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" | cut -d' ' -f1)
	if [ "$got" != "$ORT_SHA256" ]; then
		say "the downloaded libonnxruntime.so.1 has sha256 $got, expected $ORT_SHA256: refusing to install it"; exit 1
	fi
	mkdir -p "$ORT_DIR"
	install -m 0644 "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ORT_LIB"
	say "installed $ORT_LIB"
}

cuda_files() {
	printf '%s %s\n' \
		libonnxruntime_providers_cuda.so "$CUDA_PROVIDER_SHA256" \
		libonnxruntime_providers_shared.so "$CUDA_SHARED_SHA256"
}

cuda_ok() {
	local f sum
	while read -r f sum; do
		[ -f "$ORT_DIR/$f" ] && echo "$sum  $ORT_DIR/$f" | sha256sum --check --status || return 1
	done < <(cuda_files)
}

# install_cuda puts the CUDA execution provider beside the ONNX Runtime
# library, both files checked against their sha256 before either is
# installed.
install_cuda() {
	cuda_ok && return 0
	apt_install npm:npm
	say "fetching ONNX Runtime's CUDA provider (npm package $CUDA_PKG@$CUDA_PKG_VERSION, ~180 MB download, ~230 MB installed)"
	local tmp f sum got
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	(cd "$tmp" && npm pack --silent "$CUDA_PKG@$CUDA_PKG_VERSION" >/dev/null)
	tar -xzf "$tmp/$CUDA_PKG-$CUDA_PKG_VERSION.tgz" -C "$tmp" \
		"$CUDA_PKG_DIR/libonnxruntime_providers_cuda.so" "$CUDA_PKG_DIR/libonnxruntime_providers_shared.so"
	while read -r f sum; do
		got=$(sha256sum "$tmp/$CUDA_PKG_DIR/$f" | cut -d' ' -f1)
		if [ "$got" != "$sum" ]; then
			say "the downloaded $f has sha256 $got, expected $sum: refusing to install it"; exit 1
		fi
	done < <(cuda_files)
	while read -r f sum; do
		install -m 0755 "$tmp/$CUDA_PKG_DIR/$f" "$ORT_DIR/$f"
		say "installed $ORT_DIR/$f"
	done < <(cuda_files)
	say "the CUDA provider needs the CUDA 13 runtime, cuBLAS, cuRAND and cuDNN 9 on the library path (docs/dependencies.md)"
}

# wants_cuda reports whether a config file asks the model plugin for the
# CUDA device (`device: cuda` in YAML, "device": "cuda" in JSON).
wants_cuda() {
	grep -Eq '^[^#]*["'"'"']?device["'"'"']?[[:space:]]*:[[:space:]]*["'"'"']?cuda\b' "$1"
}

# go_tool installs a pinned Go command into .deps/bin unless that exact
# version is there.
go_tool() {
	local pkg=${1%@*} version=${1#*@} bin
	bin=.deps/bin/$(basename "$pkg")
	if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "mod.*$version"; then return 0; fi
	say "installing $1"
	GOBIN="$PWD/.deps/bin" go install "$1"
}

gpu=
for arg in "$@"; do
	case $arg in
	--gpu) gpu=1 ;;
	-*) say "unknown option $arg (usage: scripts/setup.sh [--gpu] [CONFIG...])"; exit 2 ;;
	*)
		if [ ! -f "$arg" ]; then say "config $arg does not exist"; exit 2; fi
		if wants_cuda "$arg"; then
			say "$arg asks for device: cuda"
			gpu=1
		fi
		;;
	esac
done

if ! command -v go >/dev/null; then say "Go >= 1.26 is required (https://go.dev/dl/)"; exit 1; fi
# gcc: ONNX Runtime is reached through cgo, and the race detector needs it too.
apt_install gcc:gcc protoc:protobuf-compiler xvfb-run:xvfb xauth:xauth mosquitto:mosquitto ffmpeg:ffmpeg
install_ort
go_tool "$PROTOC_GEN_GO"
go_tool "$PROTOC_GEN_GO_GRPC"
[ -z "$gpu" ] || install_cuda
