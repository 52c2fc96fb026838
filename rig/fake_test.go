package rig_test

import "github.com/twinrig/twinrig/rig"

// predictOnly hides every method of a model but rig.Model's, so that the
// transport's answer for a plugin without Evaluate or Adapt is tested.
type predictOnly struct{ rig.Model }
