// Package sources lets one acquisition plugin serve several data sources
// behind the same contract, chosen by the "source" setting:
//
//   - "sim" (the default): the simulated mouse under a simulated microscope
//     (package simacq; its settings are documented there);
//   - "movie": a recorded two-photon movie replayed and processed online
//     (package movieacq).
//
// Every other setting goes to the chosen source unchanged.
package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/movieacq"
	"github.com/twinrig/twinrig/plugins/acquisition/simacq"
	"github.com/twinrig/twinrig/rig"
)

// Names lists the sources, default first.
func Names() []string { return []string{"sim", "movie"} }

// Switch is a rig.Acquisition that delegates to the source its settings
// name. It is a rig.TruthTeller too: OptimalStimuli goes to a source that
// knows its neurons' optimal stimuli (the simulated mouse) and returns an
// error wrapping rig.ErrUnsupported for the others (the movie). Its methods
// are safe for concurrent use.
type Switch struct {
	log *slog.Logger

	mu      sync.Mutex
	name    string
	current rig.Acquisition
}

var (
	_ rig.Acquisition = (*Switch)(nil)
	_ rig.TruthTeller = (*Switch)(nil)
)

// New returns a Switch with no source chosen yet.
func New(log *slog.Logger) *Switch {
	if log == nil {
		log = slog.Default()
	}
	return &Switch{log: log}
}

// Configure picks the source named by the "source" setting (default
// "sim") and configures it with the other settings. An unknown source is
// an error listing the known ones. On error the previous source stays.
func (s *Switch) Configure(ctx context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	var fields map[string]json.RawMessage
	if len(req.Settings) > 0 {
		if err := json.Unmarshal(req.Settings, &fields); err != nil {
			return rig.ConfigureResponse{}, fmt.Errorf("acquisition settings: %v, want a JSON object: %w", err, rig.ErrInvalid)
		}
	}
	name := "sim"
	if raw, ok := fields["source"]; ok {
		if err := json.Unmarshal(raw, &name); err != nil || !slices.Contains(Names(), name) {
			return rig.ConfigureResponse{}, fmt.Errorf("acquisition settings: field \"source\": %s, want one of %s: %w",
				raw, strings.Join(Names(), ", "), rig.ErrInvalid)
		}
		delete(fields, "source")
	}
	rest, err := json.Marshal(fields)
	if err != nil {
		return rig.ConfigureResponse{}, fmt.Errorf("acquisition settings: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.current
	if name != s.name || next == nil {
		switch name {
		case "movie":
			next = movieacq.New(s.log)
		default:
			next = simacq.New().WithLogger(s.log)
		}
	}
	if _, err := next.Configure(ctx, rig.ConfigureRequest{Settings: rest}); err != nil {
		return rig.ConfigureResponse{}, err
	}
	s.name, s.current = name, next
	return rig.ConfigureResponse{}, nil
}

func (s *Switch) source() (rig.Acquisition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		return nil, fmt.Errorf("acquisition: not configured, call Configure first: %w", rig.ErrState)
	}
	return s.current, nil
}

// Describe delegates to the chosen source.
func (s *Switch) Describe(ctx context.Context, req rig.DescribeRequest) (rig.AcquisitionInfo, error) {
	src, err := s.source()
	if err != nil {
		return rig.AcquisitionInfo{}, err
	}
	return src.Describe(ctx, req)
}

// Start delegates to the chosen source.
func (s *Switch) Start(ctx context.Context, req rig.StartRequest) (rig.StartResponse, error) {
	src, err := s.source()
	if err != nil {
		return rig.StartResponse{}, err
	}
	return src.Start(ctx, req)
}

// Observe delegates to the chosen source.
func (s *Switch) Observe(ctx context.Context, req rig.ObserveRequest) (rig.ObserveResponse, error) {
	src, err := s.source()
	if err != nil {
		return rig.ObserveResponse{}, err
	}
	return src.Observe(ctx, req)
}

// Read delegates to the chosen source.
func (s *Switch) Read(ctx context.Context, req rig.ReadRequest) (rig.ReadResponse, error) {
	src, err := s.source()
	if err != nil {
		return rig.ReadResponse{}, err
	}
	return src.Read(ctx, req)
}

// Stop delegates to the chosen source.
func (s *Switch) Stop(ctx context.Context, req rig.StopRequest) (rig.StopResponse, error) {
	src, err := s.source()
	if err != nil {
		return rig.StopResponse{}, err
	}
	return src.Stop(ctx, req)
}

// OptimalStimuli delegates to the chosen source if it is a rig.TruthTeller;
// otherwise it returns an error wrapping rig.ErrUnsupported.
func (s *Switch) OptimalStimuli(ctx context.Context, req rig.OptimalStimuliRequest) (rig.OptimalStimuliResponse, error) {
	s.mu.Lock()
	src, name := s.current, s.name
	s.mu.Unlock()
	if src == nil {
		return rig.OptimalStimuliResponse{}, fmt.Errorf("acquisition: not configured, call Configure first: %w", rig.ErrState)
	}
	tt, ok := src.(rig.TruthTeller)
	if !ok {
		return rig.OptimalStimuliResponse{}, fmt.Errorf("acquisition: the %q source does not know its neurons' optimal stimuli: %w", name, rig.ErrUnsupported)
	}
	return tt.OptimalStimuli(ctx, req)
}
