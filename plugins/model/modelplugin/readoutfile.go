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
	Schema      int    `json:"schema"`
	ModelSHA256 string `json:"model_sha256"`
	// Channels and Positions are the feature map's, Extras the behaviour
	// regressors after the channels (4).
	Channels  int      `json:"channels"`
	Positions int      `json:"positions"`
	Extras    int      `json:"extras"`
	Gamma     float64  `json:"gamma"`
	NeuronIDs []string `json:"neuron_ids,omitempty"`
	Neurons   int      `json:"neurons"`
	// Position is each neuron's position on the map.
	Position []int     `json:"position"`
	Bias     []float64 `json:"bias"`
	// Weights is the [Neurons x (Channels + Extras)] matrix, row-major, as
	// little-endian float64, base64.
	Weights string `json:"weights"`
}

const readoutSchema = 2

// saveReadout writes r for the model with hash sum to path.
func saveReadout(path, sum string, r *readout) error {
	n, f := r.w.Dims()
	raw := make([]byte, 8*f*n)
	for i := range n {
		for j := range f {
			binary.LittleEndian.PutUint64(raw[8*(i*f+j):], math.Float64bits(r.w.At(i, j)))
		}
	}
	data, err := json.Marshal(readoutFile{
		Schema: readoutSchema, ModelSHA256: sum, Channels: r.fm.channels, Positions: r.fm.positions,
		Extras: f - r.fm.channels, Gamma: r.gamma, NeuronIDs: r.ids, Neurons: n, Position: r.position, Bias: r.b,
		Weights: base64.StdEncoding.EncodeToString(raw),
	})
	if err != nil {
		return fmt.Errorf("readout %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("readout: %w", err)
	}
	return nil
}

// loadReadout reads a readout file for the model with hash sum and feature
// map fm. Every mismatch is an error naming the file and what differs.
func loadReadout(path, sum string, fm *featureMap) (*readout, error) {
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
	case fm == nil:
		return nil, bad("this model has no features output to apply a readout to")
	case f.Channels != fm.channels || f.Positions != fm.positions:
		return nil, bad("%d channels at %d positions, this model's features have %d at %d", f.Channels, f.Positions, fm.channels, fm.positions)
	case f.Extras != behaviourValues:
		return nil, bad("%d extra regressors, expected %d (behaviour)", f.Extras, behaviourValues)
	case f.Neurons < 1 || f.Neurons > 1<<20 || len(f.Bias) != f.Neurons || len(f.Position) != f.Neurons ||
		(f.NeuronIDs != nil && len(f.NeuronIDs) != f.Neurons):
		return nil, bad("%d neurons with %d biases, %d positions and %d ids, expected one of each per neuron",
			f.Neurons, len(f.Bias), len(f.Position), len(f.NeuronIDs))
	case !(f.Gamma >= 0 && f.Gamma < 1):
		return nil, bad("gamma %v, expected [0, 1)", f.Gamma)
	}
	for i, p := range f.Position {
		if p < 0 || p >= fm.positions {
			return nil, bad("neuron %d at position %d, expected 0..%d", i, p, fm.positions-1)
		}
	}
	for i, b := range f.Bias {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return nil, bad("bias %d is %v, expected finite", i, b)
		}
	}
	nf := f.Channels + f.Extras
	raw, err := base64.StdEncoding.DecodeString(f.Weights)
	if err != nil || len(raw) != 8*nf*f.Neurons {
		return nil, bad("weights hold %d bytes, expected %d (base64 of %d x %d float64)", len(raw), 8*nf*f.Neurons, f.Neurons, nf)
	}
	w := mat.NewDense(f.Neurons, nf, nil)
	for i := range f.Neurons {
		for j := range nf {
			v := math.Float64frombits(binary.LittleEndian.Uint64(raw[8*(i*nf+j):]))
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, bad("weight (%d, %d) is %v, expected finite", i, j, v)
			}
			w.Set(i, j, v)
		}
	}
	return &readout{fm: *fm, position: f.Position, w: w, b: f.Bias, ids: f.NeuronIDs, gamma: f.Gamma,
		x: make([]float32, fm.size())}, nil
}
