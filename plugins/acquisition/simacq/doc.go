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
//	  "grid_height": 18,
//	  "ds_fraction": 0.2,         // direction-selective cells
//	  "planes": 1,                // planes per volume; scans come at imaging_rate_hz / planes
//	  "run_bout_ms": 8000,        // mean running bout
//	  "still_bout_ms": 16000,     // mean still bout
//	  "run_speed_cm_s": 15,       // mean running speed
//	  "running_gain": 0.5,        // mean relative rate increase at run_speed_cm_s
//	  "pupil_gain": 0.1,          // relative rate increase per pupil-radius s.d.
//	  "refractory_ms": 2,         // absolute refractory period (0: none)
//	  "gain_noise_sd": 0.2,       // slow multiplicative gain noise, log units (overdispersion)
//	  "gain_noise_tau_ms": 1000,
//	  "neuropil_coef": 0.7,       // neuropil weight in every ROI trace
//	  "neuropil_sd": 0.05,        // neuropil fluctuation, dF/F
//	  "neuropil_tau_ms": 2000,
//	  "drift_sd": 0.05,           // baseline drift, dF/F
//	  "drift_tau_ms": 60000,
//	  "workers": 0,               // goroutines simulating (0: GOMAXPROCS); results do not depend on it
//	  "shot_noise": true          // noise s.d. grows with sqrt(F/F0)
//	}
//
// The defaults are sim.DefaultConfig's. Describe reports the scan (volume)
// rate, imaging_rate_hz / planes, as ImagingRateHz, and every scan carries
// the simulated behaviour, z-scored (see sim.Mouse.BehaviourStats). Each Start begins a new session of
// the same mouse: time restarts at zero and the spike and noise streams move
// on to the next session's, so repeated sessions differ like repeated
// recordings while the receptive fields stay put.
//
// The acquisition also tells its ground truth (rig.TruthTeller):
// OptimalStimuli answers each neuron's analytic most exciting stimulus
// (sim.Mouse.OptimalStimulus) with the pixels of its receptive field, so
// that the host can score the stimuli it synthesises.
package simacq
