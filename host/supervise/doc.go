// Package supervise runs the host's three plugin processes: it launches
// them concurrently, hands them their settings, watches for one that
// exits, kills them all on the way out, and restarts them when one dies
// mid-session so that the session can continue from its record.
//
// A plugin process is behind the Process interface and is started by a
// Launcher: Binaries starts plugin binaries with rig.Launch (what the
// twinrig command does), InProcess serves plugin implementations inside
// the test's process over the real gRPC wire (rig.LoopbackStimulus and its
// kin), with processes that can be made to die on demand.
//
// Every error names the plugin: it is, or joins, *session.PluginError
// values, each naming the plugin's kind and its binary and saying why.
// Nothing is left running: a Supervisor kills what it started whenever it
// returns an error, and Plugins.Kill kills the rest.
package supervise
