package main

import (
	"fmt"
	"io"

	"github.com/twinrig/twinrig/host/config"
	"github.com/twinrig/twinrig/protocols"
)

func validateCommand(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("validate", "validate CONFIG", stderr)
	path, code := parseArgs(fs, args)
	if code >= 0 {
		return code
	}
	cfg, proto, err := load(path)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s: ok (rig %s, protocol %s: %d blocks, %s)\n",
		cfg.File, cfg.Rig, proto.Name, len(proto.Blocks), proto.Duration())
	return exitOK
}

// load reads the config and the protocol it names.
func load(path string) (*config.Config, *protocols.Protocol, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	proto, err := protocols.Load(cfg.Session.Protocol)
	if err != nil {
		return nil, nil, err
	}
	return cfg, proto, nil
}
