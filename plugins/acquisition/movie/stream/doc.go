// Package stream is the live-microscope input of the acquisition plugin's
// movie source: a microscope (or anything standing in for one) pushes raw
// 16-bit frames over TCP or a Unix socket, each behind a small fixed
// header, and a [Source] listening for it yields them one at a time as a
// movie.Source, with their sequence numbers and timestamps.
//
// # Wire format
//
// A connection carries frames back to back, nothing else (no handshake, no
// reply). Each frame is a 40-byte little-endian header followed by the
// payload, width*height uint16 samples, little-endian, row by row from the
// top:
//
//	offset size type     field
//	0      4    char[4]  magic "TRF1"
//	4      2    uint16   version, 1
//	6      2    uint16   bits per sample, 16
//	8      4    uint32   width in pixels
//	12     4    uint32   height in pixels
//	16     4    uint32   channel/plane index
//	20     4    uint32   payload length in bytes, width*height*2
//	24     8    uint64   sequence number, +1 per frame
//	32     8    int64    source timestamp in nanoseconds
//
// Every field is at an offset that is a multiple of its size, so the header
// can be written field by field (MATLAB's fwrite or write with 'uint32',
// 'int64' ...) or cast from a packed struct. See docs/microscope-stream.md
// for a ScanImage example.
//
// # Contracts
//
// [Decoder] validates each header (magic, version, bits per sample, sizes
// within [Limits], payload length) and returns an error naming the field
// and its value; it never panics. A malformed stream cannot be
// resynchronised, so the [Source] drops that connection (counted in
// [Stats].Errors and logged) and waits for the microscope to connect again.
//
// The [Source] fixes the frame size from [Options] or the first frame; a
// later frame of another size is dropped, counted ([Stats].Dropped) and
// logged, and the stream goes on. A sequence number that is not the
// previous one plus one is counted ([Stats].Gaps) and logged; the frame is
// delivered. A stream that stops makes Next wait; Close makes it return
// io.EOF. Each frame [Source.NextFrame] returns carries its sequence number,
// source timestamp and host-clock arrival time; for callers of the
// movie.Source method Next, [Source.Last] gives the same for the frame
// returned last.
//
// [Send] and [SendTIFF] play the microscope: they stream a movie at a
// given frame rate in wall time. The command twinrig-send wraps SendTIFF.
package stream
