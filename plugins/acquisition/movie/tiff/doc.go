// Package tiff reads and writes the multi-page grayscale TIFF movies that
// two-photon acquisition software (ScanImage among others) records: classic
// TIFF and BigTIFF, little- and big-endian, 8- or 16-bit samples (unsigned
// or signed), one sample per pixel, uncompressed strips.
//
// # Reading
//
// [NewReader] takes an io.ReaderAt and the file size and reads nothing but
// the header; [Reader.Next] (or the iterator [Reader.All]) then walks the
// chain of image file directories
// (IFDs) one page at a time, so a movie of any length streams in constant
// memory. A [Page] carries the page's geometry and its ImageDescription
// text; [Page.ReadPixels] reads its samples into a caller-owned buffer.
//
// ScanImage writes a per-frame ImageDescription of "key = value" lines, one
// of them "frameTimestamps_sec = 12.3456"; [ScanImageTimestamp] parses it and
// [Page.Timestamp] returns it when present.
//
// Everything read from the file is checked before use: a truncated or
// corrupt file gives an error naming the file, the page (0-based) and what
// was wrong, wrapping rig.ErrInvalid (corrupt or truncated) or
// rig.ErrUnsupported (valid TIFF this package does not decode: compression,
// tiles, colour, planar data, other bit depths). The reader never panics on
// any input (FuzzReader checks this) and bounds every allocation by the file
// size.
//
// Not supported: compression of any kind, tiled images, more than one sample
// per pixel, floating-point samples, bit depths other than 8 and 16.
//
// # Writing
//
// [Writer] writes the same subset (classic or BigTIFF, either byte order,
// one or more strips per page) one page at a time. It exists to make test
// fixtures and synthetic movies; it is not a general TIFF encoder.
package tiff
