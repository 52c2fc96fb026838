// Package rigtest holds conformance suites for twinrig plugins. Each suite
// runs a plugin implementation through the real gRPC wire contract (in
// process, via rig.LoopbackStimulus, LoopbackAcquisition or LoopbackModel)
// and checks the behaviour the host relies on:
//
//	func TestConformance(t *testing.T) { rigtest.Model(t, mymodel.New()) }
package rigtest
