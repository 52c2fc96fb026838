package splitmix

import "testing"

// The first outputs for seed 0 are the reference values of splitmix64.
func TestReferenceValues(t *testing.T) {
	s := New(0)
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := s.Next(); got != want {
			t.Fatalf("output %d: %#x, want %#x", i, got, want)
		}
	}
}
