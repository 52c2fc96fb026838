package rig_test

import (
	"context"
	"fmt"
	"log"

	"github.com/twinrig/twinrig/rig"
)

// meanModel predicts, for each of its neurons, 1 + the frame's mean level.
// It stays hand-written (not rigfake's): the examples show what a plugin
// author writes.
type meanModel struct{ neurons int }

func (m meanModel) Configure(context.Context, rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	return rig.ConfigureResponse{}, nil
}

func (m meanModel) Describe(context.Context, rig.DescribeRequest) (rig.ModelInfo, error) {
	return rig.ModelInfo{Name: "mean", Neurons: m.neurons, Width: 256, Height: 144, FrameRateHz: 30}, nil
}

func (m meanModel) Reset(context.Context, rig.ResetRequest) (rig.ResetResponse, error) {
	return rig.ResetResponse{}, nil
}

func (m meanModel) Predict(_ context.Context, req rig.PredictRequest) (rig.PredictResponse, error) {
	var resp rig.PredictResponse
	for _, f := range req.Frames {
		if f.Width != 256 || f.Height != 144 || len(f.Pixels) != 256*144 {
			return resp, fmt.Errorf("frame %dx%d, want 256x144: %w", f.Width, f.Height, rig.ErrInvalid)
		}
		sum := 0
		for _, p := range f.Pixels {
			sum += int(p)
		}
		v := make([]float32, m.neurons)
		for i := range v {
			v[i] = 1 + float32(sum)/float32(len(f.Pixels))/255
		}
		resp.Responses = append(resp.Responses, v)
	}
	return resp, nil
}

// A model plugin is one type and one call in main; `rigtest.Model(t,
// meanModel{neurons: 3})` checks it against the contract.
func ExampleServeModel() {
	rig.ServeModel(meanModel{neurons: 3})
}

// A host launches a plugin binary and talks to it through the rig
// interfaces.
func ExampleLaunch() {
	p, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: "bin/twinrig-model"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Kill()
	info, err := p.Model().Describe(context.Background(), rig.DescribeRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Neurons)
}

// Loopback runs a plugin implementation behind the real wire contract in
// process, as tests and benchmarks do.
func ExampleLoopbackModel() {
	c, closeFn, err := rig.LoopbackModel(meanModel{neurons: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer closeFn()
	gray := make([]byte, 256*144)
	for i := range gray {
		gray[i] = 255
	}
	resp, err := c.(rig.Model).Predict(context.Background(), rig.PredictRequest{
		Frames: []rig.Frame{{Width: 256, Height: 144, Pixels: gray}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Responses)
	// Output: [[2 2]]
}
