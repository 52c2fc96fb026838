// Package yamldoc is twinrig's one YAML decoder: it turns a YAML file into
// the values a schema reads, with the place of everything in the file, and
// collects every problem it meets instead of stopping at the first. The
// rig config (host/config) and the protocols (protocols) decode their
// files with it; the schemas themselves (which keys exist, their types and
// limits) stay in those packages.
//
// # Contract
//
// [Parse] parses a file with github.com/goccy/go-yaml and returns its
// documents that hold a value; comment-only documents are dropped. A
// syntax error is returned alone, as one [*Problem] at the parser's
// position.
//
// A [Decoder] walks one document:
//
//   - Positions. [PosOf] gives where a node is written, counted from 1: the
//     first key of a block mapping, the first token of anything else; the
//     zero [Pos] when unknown. [Decoder.Addf] records a problem at a
//     position (an unknown one becomes 1:1), so every problem names a line
//     and a column.
//   - Anchors and aliases. An alias names an anchor whose value ends before
//     it, so alias chains cannot loop; an alias to no such anchor is a
//     problem. [Decoder.Resolve] strips anchors, follows aliases and
//     applies tags.
//   - Tags. !!str makes a scalar a string, as written; the tags that only
//     restate a plain value (!!int, !!float, !!bool, !!null, !!map, !!seq,
//     !!timestamp) are accepted and change nothing; any other tag is a
//     problem.
//   - Merge keys. [Decoder.Entries] lists a mapping's keys in file order
//     with merge keys (<<) expanded as YAML 1.1 says: keys written in the
//     mapping win over merged ones, and earlier merged mappings over later
//     ones. Keys are strings, or numbers and booleans taken as written; a
//     duplicate key is a problem.
//   - Expansion. A document may expand to at most [MaxExpansion] values
//     (each value converted to JSON and each key of a merged mapping
//     counts), so that a few nested aliases cannot make a small file
//     produce gigabytes. Past that, one problem is reported and the
//     decoding of further values fails.
//   - JSON. [Decoder.JSON] converts a value to JSON, keys in file order,
//     reporting each value JSON cannot hold: .inf and .nan, integers beyond
//     64 bits, unsupported tags. It returns valid JSON when it reports
//     nothing.
//   - Problems. Each problem is reported once per position and message
//     (a problem inside an anchored value used several times is reported
//     once), has a single-line message, and [Decoder.Problems] returns them
//     ordered by position. Messages name the value found and what was
//     expected, e.g. `got a list; expected a mapping`.
//
// Nothing here panics on any input: FuzzDecode checks that, and that
// every problem lies inside the input and names a line.
package yamldoc
