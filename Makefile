# twinrig. `make run` and `make test` set up everything they need first
# (scripts/setup.sh: Debian packages, the ONNX Runtime library, code
# generators), idempotently; `make run` with a CONFIG that asks for
# `device: cuda`, and `make setup-gpu`, also fetch ONNX Runtime's CUDA
# provider.

GO        ?= go
BIN       := bin
CONFIG    ?= configs/simulated.yaml
PLUGINS   := $(BIN)/twinrig-stimulus $(BIN)/twinrig-acquisition $(BIN)/twinrig-model
PROTOS    := $(wildcard rig/proto/twinrig/v1/*.proto)
# Plugins the end-to-end tests build; ./... skips testdata directories.
TESTPLUGINS := ./tests/testdata/contractstim ./tests/testdata/capmodel ./tests/testdata/slowmodel
export PATH := $(CURDIR)/.deps/bin:$(PATH)

.PHONY: all setup setup-gpu gpu-check gpu-check-build build run fnn-model run-fnn test test-exporter vet generate check-generate bench fuzz clean FORCE

all: build

# SETUP_ARGS: configs (or --gpu) for scripts/setup.sh; `make run` passes
# its CONFIG, so that a config asking for `device: cuda` gets the provider.
setup:
	@scripts/setup.sh $(SETUP_ARGS)

## setup-gpu: setup plus ONNX Runtime's CUDA provider (~230 MB) beside the
## ONNX Runtime library. The CUDA 13 libraries and cuDNN come from elsewhere.
setup-gpu:
	@scripts/setup.sh --gpu

build: $(BIN)/twinrig $(PLUGINS)

# The Go tool decides what is stale; FORCE just makes make ask it.
$(BIN)/twinrig: FORCE
	$(GO) build -o $@ ./host
$(BIN)/twinrig-stimulus: FORCE
	$(GO) build -o $@ ./plugins/stimulus
$(BIN)/twinrig-acquisition: FORCE
	$(GO) build -o $@ ./plugins/acquisition
$(BIN)/twinrig-model: FORCE
	$(GO) build -o $@ ./plugins/model

## run: a simulated closed-loop session on the virtual clock, headless,
## embedded MQTT broker.
run: SETUP_ARGS = $(CONFIG)
run: setup build
	$(BIN)/twinrig run $(CONFIG)

## fnn-model: the foundation model's architecture as an ONNX file for
## configs/fnn.yaml: 10,000 units, seeded random weights, a dynamic batch
## (tools/fnnexport). FNN_PATH = a checkout of the fnn code (the directory
## holding fnn/microns/build.py); needs Debian's PyTorch (installed here
## if missing, about 700 MB).
FNN_MODEL := models/fnn-random-10k.onnx
PYTHON    ?= /usr/bin/python3
fnn-model: $(FNN_MODEL)
$(FNN_MODEL):
	@[ -n "$(FNN_PATH)" ] || { echo "FNN_PATH is not set: point it at a checkout of the fnn code (the directory holding fnn/microns/build.py)"; exit 1; }
	@$(PYTHON) -c "import torch" 2>/dev/null || { sudo=$$(command -v sudo || true); $$sudo apt-get install -y python3-torch python3-numpy libopenblas0-pthread; }
	@mkdir -p $(dir $@)
	$(PYTHON) tools/fnnexport/fnn_export.py microns --fnn-path "$(FNN_PATH)" --random-weights 10000 --seed 0 \
		--dynamic-batch --threads 2 --out $@

## run-fnn: the closed loop with the foundation model's architecture
## (configs/fnn.yaml, protocols/inception-loop-fnn.yaml; about 20-30 min
## on 2 cores).
run-fnn: SETUP_ARGS = configs/fnn.yaml
run-fnn: setup build $(FNN_MODEL)
	$(BIN)/twinrig run configs/fnn.yaml

## test: vet, generated-code drift, and every test with the race detector
## (under a virtual X server so that the display tests run too).
test: setup build vet check-generate
	xvfb-run -a -s "-screen 0 1280x1024x24" $(GO) test -race -shuffle=on -timeout 20m ./... $(TESTPLUGINS)

vet:
	$(GO) vet ./... $(TESTPLUGINS)
	@out=$$(gofmt -l host internal plugins protocols rig sim tests tools); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

## test-exporter: installs Debian's PyTorch (about 700 MB) and runs the fnn
## exporter's test, which `make test` skips where PyTorch is missing.
test-exporter: setup
	@/usr/bin/python3 -c "import torch" 2>/dev/null || { sudo=$$(command -v sudo || true); $$sudo apt-get install -y python3-torch; }
	TWINRIG_PYTHON=/usr/bin/python3 $(GO) test -count=1 -v ./tools/fnnexport

generate:
	protoc -I rig/proto --go_out=. --go_opt=module=github.com/twinrig/twinrig \
		--go-grpc_out=. --go-grpc_opt=module=github.com/twinrig/twinrig $(PROTOS)

# Regenerates into a scratch copy and fails if the committed code differs.
check-generate:
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	protoc -I rig/proto --go_out=$$tmp --go_opt=module=github.com/twinrig/twinrig \
		--go-grpc_out=$$tmp --go-grpc_opt=module=github.com/twinrig/twinrig $(PROTOS) && \
	diff -r $$tmp/rig/internal/wire rig/internal/wire >/dev/null || \
	{ echo "rig/internal/wire is stale: run make generate and commit the result"; exit 1; }

## bench: the benchmarks recorded in BENCHMARKS.md.
bench: setup build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...

## gpu-check: on a GPU machine, offline: build, export the 10,000-unit fnn
## model (random weights; FNN_PATH = the fnn code checkout), check it against
## PyTorch and time it on device: cuda (scripts/gpu-check.sh).
gpu-check:
	@scripts/gpu-check.sh

## gpu-check-build: bin/fnnbench for a GPU machine without Go or modules.
gpu-check-build:
	$(GO) build -o $(BIN)/fnnbench ./tools/fnnexport/cmd/fnnbench

clean:
	rm -rf $(BIN)
