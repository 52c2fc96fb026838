// Package splitmix is the splitmix64 generator (Steele, Lea and Flood
// 2014): a fixed integer recipe, so generated model weights never change
// with the Go version or the platform. The model generators share it.
package splitmix

// Source is a splitmix64 stream. The zero value starts at seed 0.
type Source struct{ state uint64 }

// New returns a stream starting at seed.
func New(seed uint64) *Source { return &Source{state: seed} }

// Next returns the next 64 random bits.
func (s *Source) Next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
