// Package session runs a twinrig session: the stage engine. RunExperiment
// describes the plugins and checks them against the experiment
// (Preflight), then runs the experiment's blocks in order, each as one
// Stage of its kind (stageKinds maps protocols.Kind to the stage that runs
// it: present, adapt, select, verify, one file each), journals every
// completed stage (events.StageDone) and, with Options.Resume, skips the
// stages an interrupted session completed (ReadResume), restoring the
// adapted readout, the scores and the selections.
//
// The stages share an Env: the plugins, the pipeline (package
// host/pipeline) that presents stimuli and carries the frames shown to the
// acquisition and the model, the timeline (package host/timeline) of what
// was recorded, the result so far and what earlier stages left for later
// ones. Stages stop at trial boundaries (Env.Checkpoint), where the
// operator's Steering pauses, resumes or aborts the session. Adding a block
// kind takes a protocols type, one Stage type and its entry in stageKinds.
//
// The package depends only on the rig interfaces, so any implementation (a
// plugin process, an in-process fake) can stand in for a plugin.
//
// Alignment. When both plugins name their neurons, each recorded neuron is
// paired with the model's neuron of the same id (the model may predict more
// neurons than are recorded); otherwise neuron i of the model is neuron i of
// the acquisition. Each scan at time t is paired with the model's
// prediction for the latest model frame shown at or before t (the frame the
// neuron was seeing). Scans paired with one of the model's burn-in frames
// after its reset (ModelInfo.BurnInFrames) are not scored. Accuracy is the
// single-trial Pearson r per neuron over all scored scans
// (metrics.Pearson; docs/science.md#accuracy); repeated blocks add the
// trial-averaged measures of package host/metrics, and verify blocks grade
// the responses in the verification window of package host/verify.
package session
