// Package payloads fuzzes the plugins with network payloads: requests of
// any shape sent through the real wire contract (rig.LoopbackModel,
// rig.LoopbackAcquisition) to the real plugin implementations, which must
// answer with a result or an error and never crash. It is apart from package tests so that fuzz workers do not
// build the binaries that package's TestMain builds.
package payloads
