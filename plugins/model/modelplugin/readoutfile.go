package modelplugin

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"gonum.org/v1/gonum/mat"

	"github.com/twinrig/twinrig/rig"
)

// A readout file holds an adapted readout as JSON, tagged with the SHA-256
// of the model it was fitted for, so that a later session on the same
// model can load it (setting "readout") and a readout for another model is
// refused.
type readoutFile struct {
	Schema      int       `json:"schema"`
	ModelSHA256 string    `json:"model_sha256"`
	Features    int       `json:"features"`
	PoolH       int       `json:"pool_h"`
	PoolW       int       `json:"pool_w"`
	Gamma       float64   `json:"gamma"`
	NeuronIDs   []string  `json:"neuron_ids,omitempty"`
	Neurons     int       `json:"neurons"`
	Bias        []float64 `json:"bias"`
	// Weights is the [Features x Neurons] matrix, row-major, as
	// little-endian float64, base64.
	Weights string `json:"weights"`
}

const readoutSchema = 1

// saveReadout writes r for the model with hash sum to path.
func saveReadout(path, sum string, p *pooler, r *readout) error {
	f, n := r.w.Dims()
	raw := make([]byte, 8*f*n)
	for i := range f {
		for j := range n {
			binary.LittleEndian.PutUint64(raw[8*(i*n+j):], math.Float64bits(r.w.At(i, j)))
		}
	}
	data, err := json.Marshal(readoutFile{
		Schema: readoutSchema, ModelSHA256: sum, Features: f, PoolH: p.ph, PoolW: p.pw, Gamma: r.gamma,
		NeuronIDs: r.ids, Neurons: n, Bias: r.b, Weights: base64.StdEncoding.EncodeToString(raw),
	})
	if err != nil {
		return fmt.Errorf("readout %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("readout: %w", err)
	}
	return nil
}

// loadReadout reads a readout file for the model with hash sum and pooler
// p. Every mismatch is an error naming the file and what differs.
func loadReadout(path, sum string, p *pooler) (*readout, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("readout: %w", err)
	}
	var f readoutFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("readout %s: not a readout file: %v: %w", path, err, rig.ErrInvalid)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("readout %s: "+format+": %w", append([]any{path}, append(args, rig.ErrInvalid)...)...)
	}
	switch {
	case f.Schema != readoutSchema:
		return nil, bad("schema %d, expected %d", f.Schema, readoutSchema)
	case f.ModelSHA256 != sum:
		return nil, bad("fitted for the model with SHA-256 %s, this model's is %s: a readout for another model", f.ModelSHA256, sum)
	case p == nil:
		return nil, bad("this model has no features output to apply a readout to")
	case f.Features != p.out || f.PoolH != p.ph || f.PoolW != p.pw:
		return nil, bad("%d features pooled %dx%d, this model gives %d pooled %dx%d", f.Features, f.PoolH, f.PoolW, p.out, p.ph, p.pw)
	case f.Neurons < 1 || len(f.Bias) != f.Neurons || (f.NeuronIDs != nil && len(f.NeuronIDs) != f.Neurons):
		return nil, bad("%d neurons with %d biases and %d ids, expected one of each per neuron", f.Neurons, len(f.Bias), len(f.NeuronIDs))
	case !(f.Gamma >= 0 && f.Gamma < 1):
		return nil, bad("gamma %v, expected [0, 1)", f.Gamma)
	}
	raw, err := base64.StdEncoding.DecodeString(f.Weights)
	if err != nil || len(raw) != 8*f.Features*f.Neurons {
		return nil, bad("weights hold %d bytes, expected %d (base64 of %d x %d float64)", len(raw), 8*f.Features*f.Neurons, f.Features, f.Neurons)
	}
	w := mat.NewDense(f.Features, f.Neurons, nil)
	for i := range f.Features {
		for j := range f.Neurons {
			v := math.Float64frombits(binary.LittleEndian.Uint64(raw[8*(i*f.Neurons+j):]))
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, bad("weight (%d, %d) is %v, expected finite", i, j, v)
			}
			w.Set(i, j, v)
		}
	}
	return &readout{w: w, b: f.Bias, ids: f.NeuronIDs, gamma: f.Gamma, x: make([]float64, f.Features)}, nil
}
