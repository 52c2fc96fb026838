package fnnexport

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/twinrig/twinrig/plugins/model/modelplugin"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

// BenchConfig configures Interleaved.
type BenchConfig struct {
	// Model and Reference are the exported model and its reference file.
	Model, Reference string
	// Python runs torchstep.py (in Dir, this directory) with TorchArgs:
	// the exporter's source arguments that built Model, e.g. "microns
	// --fnn-path FNN --random-weights 10000 --seed 0". Empty Python skips
	// the PyTorch runner.
	Python, Dir string
	TorchArgs   []string
	// Threads is every runner's thread count (torch.set_num_threads, ONNX
	// Runtime's intra-op threads).
	Threads int
	// Rounds of Frames frames each runner: rounds alternate the runners
	// (A B C, B C A, C A B, ...), so load changes hit all of them alike.
	Rounds, Frames int
	// Warmup frames each runner steps before the first round.
	Warmup int
	// InFlight is how many frames the plugin runner sends ahead of the
	// responses it has received (0 = 2): with 2 the next frame travels
	// while the plugin computes, as the host pipelines.
	InFlight int
	// Device is the ONNX Runtime runners' device (onnxmodel.DeviceCPU when
	// empty, or onnxmodel.DeviceCUDA, which falls back to the CPU as the
	// plugin does: BenchResult.Device says which ran).
	Device string
	// Log, when set, receives one line per round.
	Log io.Writer
}

// Runner names in BenchResult.
const (
	BenchTorch  = "pytorch"
	BenchBare   = "onnxruntime"
	BenchPlugin = "plugin"
)

// BenchResult holds the milliseconds per frame of each round per runner.
type BenchResult struct {
	MsPerFrame map[string][]float64
	// TorchMaxRelErr is how far the PyTorch runner's responses were from
	// the reference's on its steps (it must be the exported network).
	TorchMaxRelErr float64
	// Load holds /proc/loadavg's 1-minute load before each round.
	Load []float64
	// Device is where the bare ONNX Runtime runner ran.
	Device string
	// Check compares the bare runner, on its device, with the reference's
	// responses before the rounds.
	Check Comparison
}

// Median returns the median milliseconds per frame of a runner (0 when it
// did not run).
func (r BenchResult) Median(name string) float64 {
	v := slices.Clone(r.MsPerFrame[name])
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// RoundRatio returns the median over rounds of a's time over b's in the
// same round (0 when either did not run): less sensitive than the ratio of
// the medians to load that changes from round to round.
func (r BenchResult) RoundRatio(a, b string) float64 {
	va, vb := r.MsPerFrame[a], r.MsPerFrame[b]
	if len(va) == 0 || len(va) != len(vb) {
		return 0
	}
	ratios := make([]float64, len(va))
	for i := range va {
		ratios[i] = va[i] / vb[i]
	}
	return BenchResult{MsPerFrame: map[string][]float64{"": ratios}}.Median("")
}

// benchRunner runs n frames and returns how long they took.
type benchRunner struct {
	name string
	run  func(n int) (time.Duration, error)
}

// Interleaved times fnn's PyTorch step (torchstep.py), the bare ONNX
// Runtime call (onnxmodel.Runner) and the model plugin's PredictStream
// (modelplugin behind rig's loopback gRPC transport, as the host reaches
// a plugin) on the same model and the same frames, the reference's steps
// cycled, each runner keeping its own recurrent state. Rounds alternate
// the runners.
func Interleaved(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if cfg.Rounds <= 0 || cfg.Frames <= 0 {
		return BenchResult{}, fmt.Errorf("bench: rounds %d and frames %d, expected > 0: %w", cfg.Rounds, cfg.Frames, rig.ErrInvalid)
	}
	ref, err := ReadReference(cfg.Reference)
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	res := BenchResult{MsPerFrame: map[string][]float64{}}
	var runners []benchRunner

	if cfg.Python != "" {
		torch, err := startTorch(ctx, cfg)
		if err != nil {
			return BenchResult{}, err
		}
		defer torch.close()
		res.TorchMaxRelErr = torch.maxRelErr
		runners = append(runners, benchRunner{BenchTorch, torch.run})
	}

	bare, err := onnxmodel.NewFile(cfg.Model, onnxmodel.Options{Threads: cfg.Threads, Device: cfg.Device})
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	defer bare.Close()
	res.Device = bare.Device()
	if res.Check, err = Compare(bare, ref); err != nil {
		return BenchResult{}, fmt.Errorf("bench: check against the reference: %w", err)
	}
	out := make([]float32, ref.Neurons)
	k := 0
	runners = append(runners, benchRunner{BenchBare, func(n int) (time.Duration, error) {
		start := time.Now()
		for range n {
			s := ref.Steps[k%len(ref.Steps)]
			if err := bare.Step(s.Pixels(), s.Behaviour(), out); err != nil {
				return 0, fmt.Errorf("bench: onnx runtime: %w", err)
			}
			k++
		}
		return time.Since(start), nil
	}})

	plugin, err := startPlugin(ctx, cfg, ref)
	if err != nil {
		return BenchResult{}, err
	}
	defer plugin.close()
	runners = append(runners, benchRunner{BenchPlugin, plugin.run})

	for _, r := range runners {
		if cfg.Warmup > 0 {
			if _, err := r.run(cfg.Warmup); err != nil {
				return BenchResult{}, err
			}
		}
	}
	for round := range cfg.Rounds {
		load := loadAverage()
		res.Load = append(res.Load, load)
		line := fmt.Sprintf("round %d (load %.2f):", round, load)
		for i := range runners {
			r := runners[(round+i)%len(runners)]
			d, err := r.run(cfg.Frames)
			if err != nil {
				return BenchResult{}, err
			}
			ms := float64(d.Microseconds()) / 1000 / float64(cfg.Frames)
			res.MsPerFrame[r.name] = append(res.MsPerFrame[r.name], ms)
			line += fmt.Sprintf(" %s %.1f ms", r.name, ms)
		}
		if cfg.Log != nil {
			fmt.Fprintln(cfg.Log, line)
		}
	}
	return res, nil
}

// torchProcess is a running torchstep.py.
type torchProcess struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	stdout    *bufio.Scanner
	maxRelErr float64
}

func startTorch(ctx context.Context, cfg BenchConfig) (*torchProcess, error) {
	args := append([]string{"torchstep.py", "--reference", cfg.Reference}, cfg.TorchArgs...)
	if cfg.Threads > 0 {
		args = append(args, "--threads", fmt.Sprint(cfg.Threads))
	}
	cmd := exec.CommandContext(ctx, cfg.Python, args...)
	cmd.Dir = cfg.Dir
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: torchstep.py: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: torchstep.py: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start torchstep.py: %w", err)
	}
	p := &torchProcess{cmd: cmd, stdin: stdin, stdout: bufio.NewScanner(stdout)}
	var ready struct {
		Ready     bool    `json:"ready"`
		MaxRelErr float64 `json:"max_rel_err"`
	}
	if err := p.read(&ready); err != nil || !ready.Ready {
		p.close()
		return nil, fmt.Errorf("bench: torchstep.py %s did not start: %v", strings.Join(args[3:], " "), err)
	}
	p.maxRelErr = ready.MaxRelErr
	return p, nil
}

// read decodes the next JSON line of the process's output into v.
func (p *torchProcess) read(v any) error {
	if !p.stdout.Scan() {
		if err := p.stdout.Err(); err != nil {
			return fmt.Errorf("torchstep.py: %w", err)
		}
		return fmt.Errorf("torchstep.py: %w", io.ErrUnexpectedEOF)
	}
	if err := json.Unmarshal(p.stdout.Bytes(), v); err != nil {
		return fmt.Errorf("torchstep.py: %q: %w", p.stdout.Text(), err)
	}
	return nil
}

func (p *torchProcess) run(n int) (time.Duration, error) {
	if _, err := fmt.Fprintf(p.stdin, "run %d\n", n); err != nil {
		return 0, fmt.Errorf("bench: torchstep.py: %w", err)
	}
	var r struct {
		Ms    *float64 `json:"ms"`
		Error string   `json:"error"`
	}
	if err := p.read(&r); err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	if r.Ms == nil {
		return 0, fmt.Errorf("bench: torchstep.py: %s", r.Error)
	}
	return time.Duration(*r.Ms * float64(time.Millisecond)), nil
}

func (p *torchProcess) close() {
	fmt.Fprintln(p.stdin, "quit")
	p.stdin.Close()
	if err := p.cmd.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "bench: torchstep.py: %v\n", err)
	}
}

// pluginRunner is the model plugin behind rig's loopback transport with a
// PredictStream open on it.
type pluginRunner struct {
	stream   rig.PredictStream
	cancel   context.CancelFunc
	closeFn  func()
	ref      *Reference
	k        int
	neurons  int
	inFlight int
}

func startPlugin(ctx context.Context, cfg BenchConfig, ref *Reference) (*pluginRunner, error) {
	settings, err := json.Marshal(map[string]any{"model": cfg.Model, "threads": cfg.Threads, "device": cfg.Device})
	if err != nil {
		return nil, fmt.Errorf("bench: plugin settings: %w", err)
	}
	m, closeFn, err := rig.LoopbackModel(modelplugin.New())
	if err != nil {
		return nil, fmt.Errorf("bench: plugin: %w", err)
	}
	if _, err := m.Configure(ctx, rig.ConfigureRequest{Settings: settings}); err != nil {
		closeFn()
		return nil, fmt.Errorf("bench: plugin: %w", err)
	}
	if _, err := m.Reset(ctx, rig.ResetRequest{}); err != nil {
		closeFn()
		return nil, fmt.Errorf("bench: plugin: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := rig.OpenPredictStream(sctx, m)
	if err != nil {
		cancel()
		closeFn()
		return nil, fmt.Errorf("bench: plugin: %w", err)
	}
	inFlight := cfg.InFlight
	if inFlight <= 0 {
		inFlight = 2
	}
	return &pluginRunner{stream: stream, cancel: cancel, closeFn: closeFn, ref: ref, neurons: ref.Neurons, inFlight: inFlight}, nil
}

// run sends n one-frame requests, keeping at most inFlight unanswered, and
// waits for all n responses.
func (p *pluginRunner) run(n int) (time.Duration, error) {
	start := time.Now()
	sent, got := 0, 0
	for got < n {
		for sent < n && sent-got < p.inFlight {
			s := p.ref.Steps[p.k%len(p.ref.Steps)]
			req := rig.PredictRequest{
				Frames:    []rig.Frame{{Width: p.ref.Width, Height: p.ref.Height, Pixels: s.Pixels()}},
				Behaviour: []rig.Behaviour{s.Behaviour()},
			}
			if err := p.stream.Send(req); err != nil {
				return 0, fmt.Errorf("bench: plugin: send: %w", err)
			}
			p.k++
			sent++
		}
		resp, err := p.stream.Recv()
		if err != nil {
			return 0, fmt.Errorf("bench: plugin: recv: %w", err)
		}
		if len(resp.Responses) != 1 || len(resp.Responses[0]) != p.neurons {
			return 0, fmt.Errorf("bench: plugin: %d response rows, expected 1 of %d: %w", len(resp.Responses), p.neurons, rig.ErrContract)
		}
		got++
	}
	return time.Since(start), nil
}

func (p *pluginRunner) close() {
	p.stream.CloseSend()
	for {
		if _, err := p.stream.Recv(); err != nil {
			break
		}
	}
	p.cancel()
	p.closeFn()
}

// loadAverage returns the 1-minute load average (0 where /proc/loadavg
// cannot be read).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	fmt.Sscan(string(b), &v)
	return v
}
