package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/twinrig/twinrig/host/config"
	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/protocols"
)

// builtinStimulus is the file name of the built-in stimulus plugin, whose
// stimulus library validate checks every stimulus specification against.
const builtinStimulus = "twinrig-stimulus"

// The frame size and default rate stimulus specifications are checked at:
// the model's resolution, and the plugin's rate on a screen.
const (
	checkWidth, checkHeight = 256, 144
	defaultCheckRateHz      = 60
)

func validateCommand(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("validate", "validate CONFIG", stderr)
	path, code := parseArgs(fs, args)
	if code >= 0 {
		return code
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	exp, err := protocols.LoadExperiment(cfg.Session.Protocol)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	if err := checkAgainstRig(cfg, exp); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	if exp.Version == protocols.Version {
		fmt.Fprintf(stdout, "%s: ok (rig %s, protocol %s: %d blocks, %s)\n",
			cfg.File, cfg.Rig, exp.Name, count(exp, protocols.KindPresent), exp.Duration())
		return exitOK
	}
	var kinds []string
	for _, k := range protocols.Kinds() {
		if n := count(exp, k); n > 0 {
			kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
		}
	}
	fmt.Fprintf(stdout, "%s: ok (rig %s, protocol %s version %d: %d blocks (%s), %s of stimuli)\n",
		cfg.File, cfg.Rig, exp.Name, exp.Version, len(exp.Stages), strings.Join(kinds, ", "), exp.Duration())
	return exitOK
}

// count returns the number of stages of a kind.
func count(e *protocols.Experiment, k protocols.Kind) int {
	n := 0
	for _, s := range e.Stages {
		if s.Kind == k {
			n++
		}
	}
	return n
}

// checkAgainstRig checks the protocol against the rig config where the
// config says enough: with the built-in stimulus plugin, every stimulus
// specification must build in its stimulus library (at the model's
// resolution and the configured refresh rate). Each problem is reported at
// the specification's place in the protocol file.
func checkAgainstRig(cfg *config.Config, exp *protocols.Experiment) error {
	if filepath.Base(cfg.Stimulus.Path) != builtinStimulus {
		return nil
	}
	var settings struct {
		RefreshHz float64 `json:"refresh_hz"`
	}
	// The plugin validates its own settings when it starts; a rate that
	// does not decode is left to it.
	_ = json.Unmarshal(cfg.Stimulus.Settings, &settings)
	rate := settings.RefreshHz
	if rate <= 0 || rate > stimuli.MaxRateHz {
		rate = defaultCheckRateHz
	}
	return exp.CheckStimuli(func(spec json.RawMessage) error {
		_, err := stimuli.New(spec, checkWidth, checkHeight, rate)
		return err
	})
}
