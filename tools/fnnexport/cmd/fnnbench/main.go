// Command fnnbench times an exported fnn model three ways, interleaved in
// one run on the same frames: fnn's PyTorch step (torchstep.py), the bare
// ONNX Runtime call (onnxmodel.Runner) and the model plugin's PredictStream
// (in process, behind rig's loopback gRPC transport). See
// tools/fnnexport/README.md.
//
//	go run ./tools/fnnexport/cmd/fnnbench -model r.onnx -reference r.reference.json \
//	    -threads 2 -rounds 12 -frames 8 -- microns --fnn-path FNN --random-weights 10000 --seed 0
//
// The arguments after -- are the exporter's source arguments that built the
// model (torchstep.py loads the same network with them); without them the
// PyTorch runner is skipped.
//
// -device cuda runs the ONNX Runtime runners on the GPU where the model
// plugin would (falling back to the CPU otherwise; "device" in the output
// says which). Before the rounds the bare runner is compared with the
// reference's responses on that device. Then, unless turned off, it
// measures what keeping the recurrent state in host memory costs per step
// (-transfer-runs: the state's bytes to the device and back, timed with a
// probe model of the same state) and, with -batch-rows > 0, batched
// Evaluate throughput in candidate-steps per second (a model exported with
// --dynamic-batch runs that many rows at once; a batch-1 model one).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"

	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/tools/fnnexport"
)

func main() {
	model := flag.String("model", "", "the exported .onnx model")
	reference := flag.String("reference", "", "its reference file (default: MODEL with .reference.json)")
	python := flag.String("python", "", "the Python with PyTorch (default: as the exporter's test finds one)")
	dir := flag.String("dir", "", "the directory of torchstep.py (default: tools/fnnexport of this source tree)")
	threads := flag.Int("threads", 2, "threads of every runner")
	rounds := flag.Int("rounds", 12, "rounds (each runs every runner once, the order rotating)")
	frames := flag.Int("frames", 8, "frames per runner and round")
	warmup := flag.Int("warmup", 3, "frames each runner steps before the first round")
	inFlight := flag.Int("in-flight", 2, "frames the plugin runner sends ahead of its responses")
	device := flag.String("device", "cpu", "the ONNX Runtime runners' device: cpu or cuda")
	transferRuns := flag.Int("transfer-runs", 20, "runs of the state-transfer probe (0 skips it)")
	batchRows := flag.Int("batch-rows", 0, "rows of the batched Evaluate benchmark (0 skips it)")
	batchCandidates := flag.Int("batch-candidates", 0, "candidates of the batched benchmark (default 4 x rows)")
	batchSteps := flag.Int("batch-steps", 8, "frames per candidate of the batched benchmark")
	batchWarmup := flag.Int("batch-warmup", 10, "gray warm-up steps of the batched benchmark (untimed)")
	checkCUDA := flag.Bool("check-cuda", false, "only check that the CUDA provider can be used here (onnxmodel.CheckCUDA): print ok or why not, exit 1 when not")
	flag.Parse()
	if *checkCUDA {
		os.Exit(checkCUDAHere())
	}
	if *model == "" {
		fmt.Fprintln(os.Stderr, "fnnbench: -model is required")
		os.Exit(2)
	}
	if *reference == "" {
		*reference = (*model)[:len(*model)-len(filepath.Ext(*model))] + ".reference.json"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *batchCandidates == 0 {
		*batchCandidates = 4 * *batchRows
	}
	if err := run(ctx, fnnexport.BenchConfig{
		Model: *model, Reference: *reference, Python: *python, Dir: *dir, TorchArgs: flag.Args(),
		Threads: *threads, Rounds: *rounds, Frames: *frames, Warmup: *warmup, InFlight: *inFlight,
		Device: *device, Log: os.Stderr,
	}, extras{
		transferRuns: *transferRuns,
		batch: fnnexport.BatchBenchConfig{Model: *model, Reference: *reference, Device: *device, Threads: *threads,
			Rows: *batchRows, Candidates: *batchCandidates, Steps: *batchSteps, Warmup: *batchWarmup},
	}); err != nil {
		fmt.Fprintln(os.Stderr, "fnnbench:", err)
		os.Exit(1)
	}
}

// checkCUDAHere prints whether the CUDA provider beside the ONNX Runtime
// library can be used on this machine, and returns the exit status.
func checkCUDAHere() int {
	lib, err := onnxmodel.LocateLibrary("")
	if err == nil {
		err = onnxmodel.CheckCUDA(lib)
	}
	if err != nil {
		fmt.Println("cuda: not usable:", err)
		return 1
	}
	fmt.Println("cuda: ok, provider beside", lib)
	return 0
}

// extras are the measurements after the interleaved rounds.
type extras struct {
	transferRuns int
	batch        fnnexport.BatchBenchConfig
}

func run(ctx context.Context, cfg fnnexport.BenchConfig, ex extras) error {
	if len(cfg.TorchArgs) > 0 {
		if cfg.Dir == "" {
			_, file, _, ok := runtime.Caller(0)
			if !ok {
				return fmt.Errorf("cannot locate torchstep.py: pass -dir")
			}
			cfg.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		}
		if cfg.Python == "" {
			py, err := fnnexport.FindPython(ctx)
			if err != nil {
				return err
			}
			cfg.Python = py
		}
	}
	res, err := fnnexport.Interleaved(ctx, cfg)
	if err != nil {
		return err
	}
	torch, bare, plugin := res.Median(fnnexport.BenchTorch), res.Median(fnnexport.BenchBare), res.Median(fnnexport.BenchPlugin)
	summary := map[string]any{
		"threads": cfg.Threads, "rounds": cfg.Rounds, "frames_per_round": cfg.Frames, "plugin_in_flight": cfg.InFlight,
		"median_ms_per_frame":               map[string]float64{"pytorch": torch, "onnxruntime": bare, "plugin": plugin},
		"plugin_over_bare":                  plugin / bare,
		"plugin_over_bare_median_of_rounds": res.RoundRatio(fnnexport.BenchPlugin, fnnexport.BenchBare),
		"load_1min":                         res.Load,
		"device":                            res.Device,
		"check_max_rel_err_vs_reference":    res.Check.MaxRelErr,
		"check_features_max_scaled_err":     res.Check.FeaturesMaxScaledErr,
	}
	if ex.transferRuns > 0 {
		c, err := onnxmodel.InspectFile(cfg.Model)
		if err != nil {
			return err
		}
		st, err := onnxmodel.MeasureStateTransfer(c, onnxmodel.Options{Threads: cfg.Threads, Device: cfg.Device}, ex.transferRuns)
		if err != nil {
			return err
		}
		summary["state_transfer"] = map[string]any{
			"device": st.Device, "state_bytes": st.StateBytes, "bytes_per_step": st.Bytes, "io_bytes_per_step": st.IOBytes,
			"ms_per_step": st.MsPerStep, "gb_per_s": st.GBPerSecond(), "share_of_bare_step": st.MsPerStep / bare,
		}
	}
	if ex.batch.Rows > 0 {
		br, err := fnnexport.BatchThroughput(ctx, ex.batch)
		if err != nil {
			return err
		}
		summary["batch"] = map[string]any{
			"device": br.Device, "rows": br.Rows, "batched_model": br.Batched, "candidate_steps": br.CandidateSteps,
			"seconds": br.Seconds, "candidate_steps_per_second": br.CandidateStepsPerSecond,
		}
	}
	if torch > 0 {
		summary["pytorch_over_bare"] = torch / bare
		summary["pytorch_over_bare_median_of_rounds"] = res.RoundRatio(fnnexport.BenchTorch, fnnexport.BenchBare)
		summary["pytorch_max_rel_err_vs_reference"] = res.TorchMaxRelErr
	}
	b, err := json.Marshal(summary)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}
