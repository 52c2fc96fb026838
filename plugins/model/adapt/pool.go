package adapt

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/twinrig/twinrig/rig"
)

// MapShape is the layout of a feature vector that holds channel-major maps:
// feature index (c*Height + y)*Width + x, as the built-in model flattens
// its [1, Channels, Height, Width] features.
type MapShape struct {
	Channels, Height, Width int
}

// Features returns Channels*Height*Width.
func (s MapShape) Features() int { return s.Channels * s.Height * s.Width }

// Pooled returns the shape after averaging blocks of ph x pw.
func (s MapShape) Pooled(ph, pw int) MapShape {
	return MapShape{Channels: s.Channels, Height: s.Height / ph, Width: s.Width / pw}
}

func (s MapShape) check(features, ph, pw int, what string) error {
	if s.Channels < 1 || s.Height < 1 || s.Width < 1 {
		return fmt.Errorf("adapt: map shape %+v, expected every size >= 1: %w", s, rig.ErrInvalid)
	}
	if ph < 1 || pw < 1 || s.Height%ph != 0 || s.Width%pw != 0 {
		return fmt.Errorf("adapt: pooling %d x %d of a %d x %d map, expected sizes >= 1 that divide the map: %w",
			ph, pw, s.Height, s.Width, rig.ErrInvalid)
	}
	if features != s.Features() {
		return fmt.Errorf("adapt: %s has %d features, expected %d (%d channels x %d x %d): %w",
			what, features, s.Features(), s.Channels, s.Height, s.Width, rig.ErrInvalid)
	}
	return nil
}

// Pool averages each channel of x's feature maps over blocks of ph x pw
// positions: x is [frames x shape.Features()], the result is
// [frames x shape.Pooled(ph, pw).Features()] in the same layout. Shape
// problems give an error wrapping rig.ErrInvalid.
func Pool(x *mat.Dense, shape MapShape, ph, pw int) (*mat.Dense, error) {
	frames, nf := x.Dims()
	if err := shape.check(nf, ph, pw, "features x"); err != nil {
		return nil, err
	}
	ps := shape.Pooled(ph, pw)
	out := mat.NewDense(frames, ps.Features(), nil)
	inv := 1 / float64(ph*pw)
	for t := range frames {
		src, dst := x.RawRowView(t), out.RawRowView(t)
		for c := range shape.Channels {
			for y := range shape.Height {
				row := src[(c*shape.Height+y)*shape.Width:]
				drow := dst[(c*ps.Height+y/ph)*ps.Width:]
				for xx := range shape.Width {
					drow[xx/pw] += row[xx] * inv
				}
			}
		}
	}
	return out, nil
}

// Unpool maps readout weights fitted on Pool(x, shape, ph, pw) back onto
// the full features: w is [shape.Pooled(ph, pw).Features() x neurons], the
// result is [shape.Features() x neurons] and gives exactly the same
// x W + b as the pooled fit (each pooled weight spread evenly over its
// block). Shape problems give an error wrapping rig.ErrInvalid.
func Unpool(w *mat.Dense, shape MapShape, ph, pw int) (*mat.Dense, error) {
	if err := shape.check(shape.Features(), ph, pw, "map"); err != nil {
		return nil, err
	}
	ps := shape.Pooled(ph, pw)
	rows, nn := w.Dims()
	if rows != ps.Features() {
		return nil, fmt.Errorf("adapt: weights w have %d rows, expected %d (pooled %d x %d x %d): %w",
			rows, ps.Features(), ps.Channels, ps.Height, ps.Width, rig.ErrInvalid)
	}
	out := mat.NewDense(shape.Features(), nn, nil)
	inv := 1 / float64(ph*pw)
	for c := range shape.Channels {
		for y := range shape.Height {
			for xx := range shape.Width {
				src := w.RawRowView((c*ps.Height+y/ph)*ps.Width + xx/pw)
				dst := out.RawRowView((c*shape.Height+y)*shape.Width + xx)
				for i, v := range src {
					dst[i] = v * inv
				}
			}
		}
	}
	return out, nil
}
