// Package tests holds twinrig's end-to-end tests: they build the host and
// plugin binaries, run sessions through real plugin subprocesses and the
// embedded MQTT broker, and check what a user relies on: the events, the
// recorded data, the errors for bad input, and that no plugin process is
// left behind.
package tests
