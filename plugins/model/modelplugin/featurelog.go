package modelplugin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"
)

// featureLog is an append-only log of rows of bfloat16 values, all of the
// same width, indexed from 0 in the order appended. The first rows stay in
// memory, as many as its memory budget holds; the later ones go to a
// temporary file (width*2 bytes per row, little-endian, read back with
// ReadAt) created in its directory at the first row that does not fit.
// The file is unlinked as soon as it is created where the system allows
// (its data lives until it is closed, so a killed plugin leaves nothing
// behind), otherwise removed by Close.
//
// A row that cannot be written fails Append with the write's error; the
// log then refuses every later Append with the same error (Err) until
// Reset, so that row indices never shift. It is not safe for concurrent
// use.
type featureLog struct {
	dir     string
	width   int        // values per row
	memRows int        // rows the memory budget holds
	mem     [][]uint16 // rows 0..len(mem)-1; cap keeps earlier rows for reuse
	file    *os.File   // rows len(mem).. at (i-len(mem))*width*2; nil until the first
	name    string     // the file's name while it is still linked ("" once removed)
	onDisk  int        // rows in the file
	buf     []byte     // one row's bytes (big-endian machines)
	err     error      // the first failed Append since Reset
}

// newFeatureLog returns an empty log of rows of width values that keeps up
// to memoryBytes of them in memory and spills the rest to a file in dir.
func newFeatureLog(dir string, memoryBytes int64, width int) *featureLog {
	l := &featureLog{dir: dir, width: width}
	if width > 0 {
		l.memRows = int(memoryBytes / (2 * int64(width)))
	}
	return l
}

// Len returns the number of rows appended since the last Reset.
func (l *featureLog) Len() int { return len(l.mem) + l.onDisk }

// Err returns the error that stopped the log since the last Reset, or nil.
func (l *featureLog) Err() error { return l.err }

// Append adds a copy of row (width values) as row Len(). It fails for a row
// of another width, and with the file's error when the row had to be
// written and could not be (see the type's comment).
func (l *featureLog) Append(row []uint16) error {
	if l.err != nil {
		return l.err
	}
	if len(row) != l.width {
		return fmt.Errorf("feature log: row of %d values, expected %d", len(row), l.width)
	}
	if len(l.mem) < l.memRows && l.onDisk == 0 {
		if n := len(l.mem); n < cap(l.mem) && l.mem[:n+1][n] != nil {
			l.mem = l.mem[:n+1] // reuse a row kept from before Reset
			copy(l.mem[n], row)
		} else {
			l.mem = append(l.mem, append(make([]uint16, 0, l.width), row...))
		}
		return nil
	}
	if err := l.spill(row); err != nil {
		l.err = err
		return err
	}
	return nil
}

func (l *featureLog) spill(row []uint16) error {
	if l.file == nil {
		f, err := os.CreateTemp(l.dir, "twinrig-features-*.bf16")
		if err != nil {
			return fmt.Errorf("feature log: spilling row %d beyond the memory budget: %w", l.Len(), err)
		}
		l.file, l.name = f, f.Name()
		if os.Remove(l.name) == nil {
			l.name = "" // unlinked: the data lives until Close
		}
	}
	b := l.bytes(row)
	if !littleEndian {
		for i, h := range row {
			binary.LittleEndian.PutUint16(b[2*i:], h)
		}
	}
	if _, err := l.file.WriteAt(b, int64(l.onDisk)*int64(len(b))); err != nil {
		return fmt.Errorf("feature log: writing row %d (%d bytes) to %s: %w", l.Len(), len(b), l.file.Name(), err)
	}
	l.onDisk++
	return nil
}

// Row copies row i (0 <= i < Len()) into dst, which has width elements.
func (l *featureLog) Row(i int, dst []uint16) error {
	switch {
	case i < 0 || i >= l.Len():
		return fmt.Errorf("feature log: row %d of %d", i, l.Len())
	case len(dst) != l.width:
		return fmt.Errorf("feature log: row %d into %d values, expected %d", i, len(dst), l.width)
	case i < len(l.mem):
		copy(dst, l.mem[i])
		return nil
	}
	b := l.bytes(dst)
	if _, err := l.file.ReadAt(b, int64(i-len(l.mem))*int64(len(b))); err != nil {
		return fmt.Errorf("feature log: reading row %d from %s: %w", i, l.file.Name(), err)
	}
	if !littleEndian {
		for k := range dst {
			dst[k] = binary.LittleEndian.Uint16(b[2*k:])
		}
	}
	return nil
}

// littleEndian: the machine stores a uint16 as the file does, so a row's
// memory is its bytes in the file.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// bytes returns the buffer a row of the file is written from or read
// into: row's own memory on a little-endian machine, l.buf otherwise.
func (l *featureLog) bytes(row []uint16) []byte {
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(row))), 2*len(row))
	}
	if len(l.buf) != 2*len(row) {
		l.buf = make([]byte, 2*len(row))
	}
	return l.buf
}

// Reset empties the log (truncating its file) and clears its error. The
// memory of the rows kept in memory is reused. A file that cannot be
// truncated is closed and removed; the next spill creates another.
func (l *featureLog) Reset() error {
	l.mem = l.mem[:0]
	l.onDisk, l.err = 0, nil
	if l.file == nil {
		return nil
	}
	if err := l.file.Truncate(0); err != nil {
		return errors.Join(fmt.Errorf("feature log: emptying %s: %w", l.file.Name(), err), l.closeFile())
	}
	return nil
}

// Close frees the log's memory and closes (and if needed removes) its
// file. The log is empty afterwards and can be used again.
func (l *featureLog) Close() error {
	l.mem, l.onDisk, l.err = nil, 0, nil
	return l.closeFile()
}

func (l *featureLog) closeFile() error {
	if l.file == nil {
		return nil
	}
	var errs []error
	if err := l.file.Close(); err != nil {
		errs = append(errs, fmt.Errorf("feature log: %w", err))
	}
	if l.name != "" {
		if err := os.Remove(l.name); err != nil {
			errs = append(errs, fmt.Errorf("feature log: %w", err))
		}
	}
	l.file, l.name, l.onDisk = nil, "", 0
	return errors.Join(errs...)
}
