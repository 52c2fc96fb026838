package onnxmodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/twinrig/twinrig/rig"
)

// The metadata properties of a contract model (ONNX metadata_props, ONNX
// Runtime's custom metadata map). All are optional; a key with the prefix
// "twinrig." that is not listed here is an error, so typos are caught.
const (
	// MetaContract is the contract version the model was built for: "1".
	MetaContract = "twinrig.contract"
	// MetaFrameRate is the frame rate the model expects, in Hz (default 30).
	MetaFrameRate = "twinrig.frame_rate_hz"
	// MetaBurnIn is how many frames after a reset are not scored
	// (default 10).
	MetaBurnIn = "twinrig.burn_in_frames"
	// MetaNeuronIDs names the neurons of "responses", in order, as a JSON
	// array of strings.
	MetaNeuronIDs = "twinrig.neuron_ids"
)

// ContractVersion is the model contract version this package implements.
const ContractVersion = 1

// Metadata is what a model's metadata properties say about it. Zero fields
// were not given.
type Metadata struct {
	Contract     int
	FrameRateHz  float64
	BurnInFrames int
	HasBurnIn    bool
	NeuronIDs    []string
}

// ParseMetadata reads the twinrig metadata properties from a model's custom
// metadata map (keys and a lookup). neurons is the width of "responses",
// which the neuron ids must match. Every problem is reported, each wrapping
// rig.ErrContract and naming the key, the value and what was expected.
func ParseMetadata(keys []string, lookup func(string) (string, bool), neurons int) (Metadata, error) {
	var md Metadata
	var errs []error
	bad := func(key, value, format string, args ...any) {
		errs = append(errs, fmt.Errorf("metadata %q = %.60q: %s: %w", key, value, fmt.Sprintf(format, args...), rig.ErrContract))
	}
	known := []string{MetaContract, MetaFrameRate, MetaBurnIn, MetaNeuronIDs}
	sorted := slices.Sorted(slices.Values(keys))
	for _, k := range sorted {
		if strings.HasPrefix(k, "twinrig.") && !slices.Contains(known, k) {
			v, _ := lookup(k)
			bad(k, v, "unknown twinrig key, expected one of %s", strings.Join(known, ", "))
		}
	}
	if v, ok := lookup(MetaContract); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n != ContractVersion {
			bad(MetaContract, v, "this twinrig reads model contract version %d", ContractVersion)
		} else {
			md.Contract = n
		}
	}
	if v, ok := lookup(MetaFrameRate); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(f > 0) || math.IsInf(f, 0) || f > 1000 {
			bad(MetaFrameRate, v, "expected a frame rate in Hz in (0, 1000]")
		} else {
			md.FrameRateHz = f
		}
	}
	if v, ok := lookup(MetaBurnIn); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > 100000 {
			bad(MetaBurnIn, v, "expected a whole number of frames in [0, 100000]")
		} else {
			md.BurnInFrames, md.HasBurnIn = n, true
		}
	}
	if v, ok := lookup(MetaNeuronIDs); ok {
		var ids []string
		switch err := json.Unmarshal([]byte(v), &ids); {
		case err != nil:
			bad(MetaNeuronIDs, v, "expected a JSON array of strings")
		case len(ids) != neurons:
			bad(MetaNeuronIDs, v, "%d ids for %d neurons in %q, expected one per neuron", len(ids), neurons, OutputResponses)
		default:
			seen := make(map[string]bool, len(ids))
			for i, id := range ids {
				if id == "" || seen[id] {
					bad(MetaNeuronIDs, v, "id %d (%q) is empty or repeated, expected unique non-empty ids", i, id)
					break
				}
				seen[id] = true
			}
			md.NeuronIDs = ids
		}
	}
	if len(errs) > 0 {
		return Metadata{}, errors.Join(errs...)
	}
	return md, nil
}
