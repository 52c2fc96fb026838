package modelplugin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// testRow returns row i of a log of width values: every value depends on
// i and its index.
func testRow(i, width int) []uint16 {
	row := make([]uint16, width)
	for k := range row {
		row[k] = uint16(i*7919 + k*31)
	}
	return row
}

// requireEmptyDir: the log leaves no file behind in dir (its file, once
// created, is unlinked).
func requireEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}

func TestFeatureLogSpillsBeyondItsBudget(t *testing.T) {
	testFeatureLogSpills(t)
	// The file's byte order, and the encoding of machines of the other
	// byte order (forced here).
	t.Run("encoded", func(t *testing.T) {
		native := littleEndian
		defer func() { littleEndian = native }()
		littleEndian = false
		testFeatureLogSpills(t)
	})
}

func testFeatureLogSpills(t *testing.T) {
	const width = 5
	dir := t.TempDir()
	l := newFeatureLog(dir, 3*2*width+1, width) // 3 rows in memory
	defer func() { require.NoError(t, l.Close()) }()
	dst := make([]uint16, width)
	for round := range 2 {
		for i := range 10 {
			require.NoError(t, l.Append(testRow(round*100+i, width)))
			require.Equal(t, i+1, l.Len())
		}
		require.Len(t, l.mem, 3)
		require.Equal(t, 7, l.onDisk)
		require.NotNil(t, l.file)
		raw := make([]byte, 2*width)
		_, err := l.file.ReadAt(raw, 2*width)
		require.NoError(t, err)
		for k, h := range testRow(round*100+4, width) {
			require.Equal(t, []byte{byte(h), byte(h >> 8)}, raw[2*k:2*k+2], "row 4 value %d, little-endian", k)
		}
		requireEmptyDir(t, dir)
		for _, i := range []int{9, 0, 4, 2, 3, 8} { // any order
			require.NoError(t, l.Row(i, dst))
			require.Equal(t, testRow(round*100+i, width), dst, "round %d row %d", round, i)
		}
		require.NoError(t, l.Reset())
		require.Equal(t, 0, l.Len())
		fi, err := l.file.Stat()
		require.NoError(t, err)
		require.Zero(t, fi.Size(), "Reset truncates the file")
	}
	require.NoError(t, l.Append(testRow(1, width)))
	require.NoError(t, l.Close())
	require.Zero(t, l.Len())
	require.Nil(t, l.file)
	requireEmptyDir(t, dir)
}

func TestFeatureLogContract(t *testing.T) {
	l := newFeatureLog(t.TempDir(), 0, 4) // nothing in memory
	defer l.Close()
	require.ErrorContains(t, l.Append(make([]uint16, 3)), "row of 3 values, expected 4")
	require.Zero(t, l.Len())
	require.NoError(t, l.Err(), "a row of the wrong width is refused, the log goes on")
	require.NoError(t, l.Append(testRow(0, 4)))
	require.Empty(t, l.mem)
	require.ErrorContains(t, l.Row(1, make([]uint16, 4)), "row 1 of 1")
	require.ErrorContains(t, l.Row(-1, make([]uint16, 4)), "row -1 of 1")
	require.ErrorContains(t, l.Row(0, make([]uint16, 5)), "into 5 values, expected 4")
	dst := make([]uint16, 4)
	require.NoError(t, l.Row(0, dst))
	require.Equal(t, testRow(0, 4), dst)
}

// TestFeatureLogWriteErrors: a row that cannot be written fails Append
// with the cause and stops the log (no later row takes its index) until
// Reset.
func TestFeatureLogWriteErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	l := newFeatureLog(dir, 2*4, 4) // one row in memory
	defer l.Close()
	require.NoError(t, l.Append(testRow(0, 4)))
	err := l.Append(testRow(1, 4))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "feature log: spilling row 1 beyond the memory budget")
	require.ErrorIs(t, l.Err(), os.ErrNotExist)
	require.ErrorIs(t, l.Append(testRow(2, 4)), os.ErrNotExist)
	require.Equal(t, 1, l.Len())

	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, l.Reset())
	require.NoError(t, l.Err())
	require.NoError(t, l.Append(testRow(0, 4)))
	require.NoError(t, l.Append(testRow(1, 4)))
	require.Equal(t, 2, l.Len())

	// The file fails under the log (as a disk would): the write's error.
	require.NoError(t, l.file.Close())
	err = l.Append(testRow(2, 4))
	require.ErrorIs(t, err, os.ErrClosed)
	require.ErrorContains(t, err, "feature log: writing row 2")
	require.Error(t, l.Row(1, make([]uint16, 4)))
	// Reset cannot truncate it: it drops it, and the next spill makes
	// another.
	require.Error(t, l.Reset())
	require.Nil(t, l.file)
	require.NoError(t, l.Append(testRow(0, 4)))
	require.NoError(t, l.Append(testRow(1, 4)))
	dst := make([]uint16, 4)
	require.NoError(t, l.Row(1, dst))
	require.Equal(t, testRow(1, 4), dst)
	require.NoError(t, l.Close())
	requireEmptyDir(t, dir)
}

// fnnFeatures is the foundation model's features output, [1 512 16 24],
// in values per step (one logged row).
const fnnFeatures = 512 * 16 * 24

// TestFeatureLogKeepsMoreThanTheOldCap: the foundation model's rows beyond
// the 512 MiB the log used to stop at (1,365 rows, 68 s at 30 Hz) are all
// kept, most on disk.
func TestFeatureLogKeepsMoreThanTheOldCap(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 500 MB")
	}
	const oldCap = 512 << 20
	rows := oldCap/(2*fnnFeatures) + 10
	dir := t.TempDir()
	l := newFeatureLog(dir, 16<<20, fnnFeatures)
	defer l.Close()
	row := make([]uint16, fnnFeatures)
	for i := range rows {
		row[0], row[fnnFeatures/2], row[fnnFeatures-1] = uint16(i), uint16(i+1), uint16(i+2)
		require.NoError(t, l.Append(row))
	}
	require.Equal(t, rows, l.Len())
	require.Len(t, l.mem, 42)
	requireEmptyDir(t, dir)
	for _, i := range []int{0, 41, 42, rows / 2, rows - 1} { // 42 rows in memory
		clear(row)
		require.NoError(t, l.Row(i, row))
		require.Equal(t, []uint16{uint16(i), uint16(i + 1), uint16(i + 2)}, []uint16{row[0], row[fnnFeatures/2], row[fnnFeatures-1]}, "row %d", i)
	}
	require.NoError(t, l.Close())
}

// BenchmarkFeatureLogAppend: appending the foundation model's rows
// (196,608 bfloat16 values, 393 kB) beyond the memory budget, so every
// row goes to the file. 30 Hz in bins of BinSteps needs 3.9 MB/s. The log
// is reset every 1,000 rows (393 MB) to bound the disk used.
func BenchmarkFeatureLogAppend(b *testing.B) {
	l := newFeatureLog(b.TempDir(), 0, fnnFeatures)
	defer l.Close()
	row := testRow(1, fnnFeatures)
	b.SetBytes(2 * fnnFeatures)
	b.ResetTimer()
	for i := range b.N {
		if i%1000 == 999 {
			if err := l.Reset(); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Append(row); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFeatureLogRow: reading the foundation model's rows back from
// the file, as each of Adapt's passes over the log does (from the page
// cache here: the rows were just written).
func BenchmarkFeatureLogRow(b *testing.B) {
	const rows = 200
	l := newFeatureLog(b.TempDir(), 0, fnnFeatures)
	defer l.Close()
	row := testRow(1, fnnFeatures)
	for range rows {
		if err := l.Append(row); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(2 * fnnFeatures)
	b.ResetTimer()
	for i := range b.N {
		if err := l.Row(i%rows, row); err != nil {
			b.Fatal(err)
		}
	}
}
