package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// NullFloat is a number that may be undefined: NaN (and ±Inf) is written
// as JSON null, and null reads back as NaN. Defined values are written as
// encoding/json writes a float64.
type NullFloat float64

// NaN returns an undefined NullFloat.
func NaN() NullFloat { return NullFloat(math.NaN()) }

// Defined reports whether f holds a number (it is neither NaN nor ±Inf).
func (f NullFloat) Defined() bool {
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

// MarshalJSON writes f as a JSON number, or null when it is undefined.
func (f NullFloat) MarshalJSON() ([]byte, error) {
	return appendNullFloat(make([]byte, 0, 24), float64(f)), nil
}

// UnmarshalJSON reads a JSON number, or null as NaN.
func (f *NullFloat) UnmarshalJSON(data []byte) error {
	v, err := parseNullFloat(data)
	if err != nil {
		return err
	}
	*f = NullFloat(v)
	return nil
}

// NullFloats is a list of numbers that may be undefined, such as one
// correlation per neuron: NaN (and ±Inf) elements are written as JSON null,
// and null elements read back as NaN. A nil list is written as [].
type NullFloats []float64

// MarshalJSON writes the list as a JSON array of numbers and nulls.
func (fs NullFloats) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+12*len(fs))
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendNullFloat(b, f)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads a JSON array of numbers and nulls (null elements as
// NaN); a JSON null reads as a nil list.
func (fs *NullFloats) UnmarshalJSON(data []byte) error {
	var elems []NullFloat
	if err := json.Unmarshal(data, &elems); err != nil {
		return err
	}
	if elems == nil {
		*fs = nil
		return nil
	}
	out := make(NullFloats, len(elems))
	for i, f := range elems {
		out[i] = float64(f)
	}
	*fs = out
	return nil
}

// appendNullFloat appends f as encoding/json writes a float64 (the
// shortest decimal that reads back as f, with an exponent only below 1e-6
// or from 1e21), or null when f is NaN or infinite.
func appendNullFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 becomes 1e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// parseNullFloat reads a JSON number, or null as NaN.
func parseNullFloat(data []byte) (float64, error) {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return math.NaN(), nil
	}
	// Only the characters of a JSON number: strconv.ParseFloat would also
	// take "Inf", hexadecimal and underscores.
	ok := len(data) > 0 && (data[0] == '-' || data[0] >= '0' && data[0] <= '9')
	for _, c := range data {
		ok = ok && (c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')
	}
	if !ok {
		return 0, fmt.Errorf("%.40q is not a number or null", data)
	}
	v, err := strconv.ParseFloat(string(data), 64)
	if err != nil {
		return 0, fmt.Errorf("%.40q: %w", data, err)
	}
	return v, nil
}
