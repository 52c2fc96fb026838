package onnxmodel

import (
	"errors"
	"fmt"
	"slices"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
	"github.com/twinrig/twinrig/rig"
)

// StateTransfer is what moving a model's recurrent state between host
// memory and the device costs on each step. A Runner keeps the state in
// host memory (onnxruntime_go v1.36.0 can neither create a tensor in device
// memory nor bind an output to the device), so with the CUDA provider ONNX
// Runtime copies every state tensor to the GPU before each step and every
// new state tensor back after it.
type StateTransfer struct {
	// Device is where the probe ran (DeviceCPU after a CUDA fallback, where
	// nothing is copied and the time is that of the probe's own work).
	Device string
	// StateBytes is the size of the state (one batch row), the bytes that
	// go each way per step; Bytes = 2 * StateBytes.
	StateBytes, Bytes int64
	// IOBytes is what a step moves anyway: the frame and behaviour in, the
	// responses and features out.
	IOBytes int64
	// MsPerStep is the median time of one probe run: the state to the
	// device, one elementwise pass over it there, and back.
	MsPerStep float64
}

// GBPerSecond returns Bytes / MsPerStep in 10^9 bytes per second (0 when
// nothing was timed).
func (s StateTransfer) GBPerSecond() float64 {
	if s.MsPerStep <= 0 {
		return 0
	}
	return float64(s.Bytes) / s.MsPerStep / 1e6
}

// MeasureStateTransfer times, runs times, a probe model with the state
// inputs and outputs of contract c and nothing else (each output is the
// negated input, so that the data must reach the device), on the device
// opts asks for with the same fallback as New. The probe's time is the
// copies' cost a step pays for keeping the state in host memory, plus a
// pass over the state that is negligible on a GPU.
func MeasureStateTransfer(c Contract, opts Options, runs int) (StateTransfer, error) {
	if len(c.State) == 0 {
		return StateTransfer{}, fmt.Errorf("state transfer: the model has no state: %w", rig.ErrInvalid)
	}
	if runs < 1 {
		return StateTransfer{}, fmt.Errorf("state transfer: %d runs, expected >= 1: %w", runs, rig.ErrInvalid)
	}
	if err := Init(opts.Library); err != nil {
		return StateTransfer{}, err
	}
	model, names, shapes, err := transferProbe(c)
	if err != nil {
		return StateTransfer{}, fmt.Errorf("state transfer: %w", err)
	}
	st := StateTransfer{Device: DeviceCPU, IOBytes: ioBytes(c)}
	src := source{data: model}
	ins, outs := names[0], names[1]
	var session *ort.DynamicAdvancedSession
	if opts.Device == DeviceCUDA {
		if session = newCUDASession(src, ins, outs, opts); session != nil {
			st.Device = DeviceCUDA
		}
	}
	if session == nil {
		if session, err = newSession(src, ins, outs, opts.Threads, false); err != nil {
			return StateTransfer{}, fmt.Errorf("state transfer: create probe session: %s", oneLine(err.Error()))
		}
	}
	defer session.Destroy()

	var inVals, outVals []ort.Value
	defer func() {
		for _, v := range slices.Concat(inVals, outVals) {
			v.Destroy()
		}
	}()
	for _, s := range shapes {
		for _, list := range []*[]ort.Value{&inVals, &outVals} {
			t, err := ort.NewEmptyTensor[float32](ort.NewShape(s...))
			if err != nil {
				return StateTransfer{}, fmt.Errorf("state transfer: allocate %v: %w", s, err)
			}
			*list = append(*list, t)
		}
		st.StateBytes += 4 * product(s)
	}
	st.Bytes = 2 * st.StateBytes

	// Two untimed runs: the first allocates on the device.
	times := make([]float64, 0, runs)
	for i := range runs + 2 {
		start := time.Now()
		if err := session.Run(inVals, outVals); err != nil {
			return StateTransfer{}, fmt.Errorf("state transfer: run: %s", oneLine(err.Error()))
		}
		if i >= 2 {
			times = append(times, float64(time.Since(start).Nanoseconds())/1e6)
		}
	}
	slices.Sort(times)
	st.MsPerStep = times[len(times)/2]
	if len(times)%2 == 0 {
		st.MsPerStep = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	return st, nil
}

// transferProbe builds the probe model of MeasureStateTransfer: for each
// state pair of c, input "s<i>" and output "o<i>" = -s<i>, batch 1.
func transferProbe(c Contract) (model []byte, names [2][]string, shapes [][]int64, err error) {
	g := onnxbuild.Graph{Name: "state_transfer_probe"}
	for i, s := range c.State {
		shape := slices.Clone(s.Shape)
		if len(shape) == 0 {
			return nil, names, nil, errors.New("a state tensor has no shape")
		}
		shape[0] = 1
		in, out := fmt.Sprintf("s%d", i), fmt.Sprintf("o%d", i)
		g.Inputs = append(g.Inputs, onnxbuild.ValueInfo{Name: in, Type: onnxbuild.Float, Shape: shape})
		g.Outputs = append(g.Outputs, onnxbuild.ValueInfo{Name: out, Type: onnxbuild.Float, Shape: shape})
		g.Add("Neg", []string{in}, []string{out})
		names[0] = append(names[0], in)
		names[1] = append(names[1], out)
		shapes = append(shapes, shape)
	}
	m := onnxbuild.Model{ProducerName: "twinrig state transfer probe", Graph: g}
	model, err = m.Marshal()
	return model, names, shapes, err
}

// ioBytes is what one step of c moves besides the state: frame and
// behaviour in, responses and features out.
func ioBytes(c Contract) int64 {
	px := int64(c.Height * c.Width)
	if c.FrameFloat {
		px *= 4
	}
	n := px + 4*4 + 4*int64(c.Neurons)
	if c.Features != nil {
		f := slices.Clone(c.Features)
		f[0] = 1
		n += 4 * product(f)
	}
	return n
}
