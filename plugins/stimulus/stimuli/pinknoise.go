package stimuli

import (
	"math"
	"sync"
)

// pinkNoiseSeq is directional pink noise: one periodic 1/f^alpha field,
// drawn once from the seed, translated rigidly by a constant velocity.
type pinkNoiseSeq struct {
	width, height int
	field         *field
	vx, vy        uint64 // per-frame sample offsets, 2^offsetFrac units
	pool          sync.Pool
}

func newPinkNoise(p *params, seed uint64, width, height int, rateHz float64) Sequence {
	alpha := p.float("alpha", 1, 0, 4)
	contrast := p.float("contrast", 0.2, 0, 1)
	dir := p.float("direction_deg", 0, -360, 360)
	speed := p.float("speed", 0.1, 0, 10)
	if p.err() != nil || !checkField(p, width, height) {
		return nil
	}
	nx, ny := nextPow2(width), nextPow2(height)
	z := pinkNoise(seed, 1, nx, ny, alpha)
	s := &pinkNoiseSeq{width: width, height: height, field: newField(z, nx, ny, 128, 128*contrast)}
	s.vx, s.vy = velocity(dir, speed, width, rateHz, nx, ny)
	s.pool.New = func() any { b := make([]int32, width+3); return &b }
	return s
}

// velocity returns the per-frame sample offsets that move content in
// direction deg (counter-clockwise from rightward, y up) at speed frame
// widths per second: content that moves right by v is sampled v further
// left each frame; content that moves up is sampled further down. The
// offsets are reduced modulo the field's periods nx and ny.
func velocity(deg, speed float64, width int, rateHz float64, nx, ny int) (ox, oy uint64) {
	rad := deg * math.Pi / 180
	v := speed * float64(width) / rateHz // pixels per frame
	return fixedOffset(math.Mod(-v*math.Cos(rad), float64(nx))), fixedOffset(math.Mod(v*math.Sin(rad), float64(ny)))
}

// Render draws frame index into dst.
func (s *pinkNoiseSeq) Render(index int, dst []byte) {
	checkDst(dst, s.width, s.height)
	tmp := s.pool.Get().(*[]int32)
	defer s.pool.Put(tmp)
	i := uint64(index)
	s.field.sample(dst, s.width, s.height, s.vx*i, s.vy*i, *tmp)
}
