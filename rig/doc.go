// Package rig is twinrig's public SDK: the plain Go types and interfaces a
// plugin author implements, one Serve call per plugin kind, and the host
// side's Launch that runs a plugin binary as a subprocess.
//
// A plugin is a separate process speaking gRPC through hashicorp/go-plugin.
// There are three kinds:
//
//   - Stimulus renders and presents visual stimuli and reports each frame
//     that reached the screen;
//   - Acquisition records neural activity (a microscope, a data source or
//     the simulated mouse of package sim);
//   - Model predicts every recorded neuron's response frame by frame.
//
// A Go plugin implements one interface and calls one function:
//
//	func main() { rig.ServeModel(myModel{}) }
//
// and tests itself against the contract in one line with package
// rig/rigtest. The wire contract (rig/proto/twinrig/v1) is versioned by
// ProtocolVersion; plugins in other languages follow rig/proto/README.md.
// The generated gRPC code is internal: the wire format never leaks into the
// types of this package.
package rig
