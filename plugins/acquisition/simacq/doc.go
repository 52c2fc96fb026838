// Package simacq is twinrig's simulated acquisition: an implementation of
// rig.Acquisition whose neurons are a sim.Mouse watching the frames the
// stimulus plugin reports.
//
// Settings (rig.ConfigureRequest.Settings) are a JSON object; every field is
// optional and unknown fields are rejected:
//
//	{
//	  "neurons": 100,             // population size
//	  "seed": 1,                  // which mouse (receptive fields, spikes, noise)
//	  "imaging_rate_hz": 30,
//	  "steps_per_scan": 2,        // simulation steps per imaging frame
//	  "indicator": "6s",          // "6s", "6m", "6f" or "8m" (GCaMP presets)
//	  "indicator_rise_ms": 100,   // override the preset's rise time constant
//	  "indicator_decay_ms": 1250, // override the preset's decay time constant
//	  "spike_amplitude": 0.2,     // dF/F per spike
//	  "noise_sd": 0.1,            // dF/F noise s.d.
//	  "baseline_rate_hz": 0.5,
//	  "driven_rate_hz": 10,
//	  "max_rate_hz": 50,
//	  "complex_fraction": 0.5,
//	  "integration_tau_ms": 60,
//	  "grid_width": 32,           // stimulus grid the receptive fields live on
//	  "grid_height": 18
//	}
//
// The defaults are sim.DefaultConfig's. Each Start begins a new session of
// the same mouse: time restarts at zero and the spike and noise streams move
// on to the next session's, so repeated sessions differ like repeated
// recordings while the receptive fields stay put.
package simacq
