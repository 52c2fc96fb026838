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
// # Liveness
//
// A plugin that stops answering is handled like one that died. While its
// Plugins run, every process is pinged every Supervisor.Heartbeat (default
// 250 ms; rig.Process.Ping, go-plugin's gRPC health service), each ping
// bounded by PingTimeout (500 ms); after Misses (2) unanswered pings in a
// row the plugin is hung: it is logged (kind, binary, pid, how long it was
// silent), every Watch context is cancelled with a *session.PluginError
// saying "hung: no answer for 1.2s" and wrapping rig.ErrUnavailable, and
// its process group is killed at once (SIGKILL, Process.Abort), so that
// Explain, Died and Run's restart treat it as a death. Detection takes at
// most about Heartbeat + Misses × PingTimeout (1.25 s) after the plugin
// stopped.
//
// The clients of Plugins.Session give every call a deadline of its own
// (Supervisor.Deadlines, default DefaultDeadlines, by "kind.Method"); a
// call past its deadline declares the plugin hung the same way. The
// deadlines:
//
//	Configure                       1 min (model.Configure: 5 min, it loads the model)
//	Describe                        10 s
//	stimulus.Render                 1 min (per request; RenderAll splits a pool)
//	acquisition.Start/Observe/Stop  30 s
//	acquisition.Read                1 min (on the real clock it waits for its scans)
//	acquisition.OptimalStimuli      1 min
//	model.Reset, model.Predict      30 s
//	stimulus.Present                none: a whole block; the heartbeat covers it
//	model PredictStream             none: a whole block; the heartbeat covers it
//	model.Adapt, model.Evaluate     none: as long as the work; the heartbeat covers them
//
// Plugins.Kill kills at once a plugin that does not answer a ping, rather
// than asking it to exit (a stopped process never would).
//
// Every error names the plugin: it is, or joins, *session.PluginError
// values, each naming the plugin's kind and its binary and saying why.
// Nothing is left running: a Supervisor kills what it started whenever it
// returns an error, and Plugins.Kill kills the rest.
package supervise
