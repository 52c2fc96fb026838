package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/twinrig/twinrig/host/config"
	"github.com/twinrig/twinrig/host/events"
)

// hostFileName is written into every session directory: how to reach the
// host that runs (or ran) the session.
const hostFileName = "host.json"

// hostFile is the content of host.json.
type hostFile struct {
	Session      string `json:"session"`
	Rig          string `json:"rig"`
	PID          int    `json:"pid"`
	Broker       string `json:"broker"`
	ControlTopic string `json:"control_topic"`
}

func eventsControlTopic(rigName string) string { return events.ControlTopic(rigName) }

// writeHostFile writes dir/host.json atomically.
func writeHostFile(dir string, f hostFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, hostFileName+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, hostFileName))
}

// alive reports whether a process with that pid exists.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// runningSession finds the session of rig under output whose host is
// alive: the one named session, or the newest.
func runningSession(output, rigName, session string) (hostFile, error) {
	dirs, err := os.ReadDir(output)
	if err != nil {
		return hostFile{}, fmt.Errorf("no running session: %w", err)
	}
	var found []hostFile
	for _, d := range dirs {
		if !d.IsDir() || (session != "" && d.Name() != session) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(output, d.Name(), hostFileName))
		if err != nil {
			continue
		}
		var f hostFile
		if json.Unmarshal(data, &f) != nil || f.Rig != rigName || !alive(f.PID) {
			continue
		}
		found = append(found, f)
	}
	if len(found) == 0 {
		what := "any session"
		if session != "" {
			what = "session " + session
		}
		return hostFile{}, fmt.Errorf("no running session of rig %q under %s (%s): no %s of a live twinrig host", rigName, output, what, hostFileName)
	}
	// Session names end in their start time: the last sorts newest.
	newest := found[0]
	for _, f := range found[1:] {
		if f.Session > newest.Session {
			newest = f
		}
	}
	return newest, nil
}

// controlCommand is `twinrig control [flags] CONFIG COMMAND [REASON]`: it
// publishes the command on the rig's control topic, for the running
// session, and waits for the host's acknowledgement (a control event).
func controlCommand(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("control", "control [flags] CONFIG pause|resume|abort [REASON]", stderr)
	session := fs.String("session", "", "the session to control (default: the newest running one of the rig)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the host's acknowledgement")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return exitUsage
	}
	cmd := events.Command{Command: fs.Arg(1), Session: *session, Reason: strings.Join(fs.Args()[2:], " ")}
	cfg, err := config.Load(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	target, err := runningSession(cfg.Session.Output, cfg.Rig, *session)
	if err != nil {
		fmt.Fprintf(stderr, "twinrig control: %v\n", err)
		return exitFailed
	}
	cmd.Session = target.Session
	payload, err := cmd.Encode()
	if err != nil {
		fmt.Fprintf(stderr, "twinrig control: %v\n", err)
		return exitUsage
	}
	opts := paho.NewClientOptions().AddBroker(target.Broker).SetClientID(fmt.Sprintf("twinrig-control-%d", os.Getpid())).
		SetConnectTimeout(*timeout).SetCleanSession(true)
	if !cfg.MQTT.Embedded() {
		opts.SetUsername(cfg.MQTT.Username).SetPassword(cfg.MQTT.Password)
	}
	client := paho.NewClient(opts)
	if tok := client.Connect(); !tok.WaitTimeout(*timeout) || tok.Error() != nil {
		fmt.Fprintf(stderr, "twinrig control: cannot reach the broker %s: %v\n", target.Broker, tok.Error())
		return exitFailed
	}
	defer client.Disconnect(100)
	acks := make(chan events.Message, 4)
	ackTopic := events.Topic(cfg.Rig, target.Session, events.KindControl)
	if tok := client.Subscribe(ackTopic, 1, func(_ paho.Client, m paho.Message) {
		if msg, err := events.DecodeEvent(m.Payload()); err == nil {
			acks <- msg
		}
	}); !tok.WaitTimeout(*timeout) || tok.Error() != nil {
		fmt.Fprintf(stderr, "twinrig control: subscribing to %s: %v\n", ackTopic, tok.Error())
		return exitFailed
	}
	if tok := client.Publish(events.ControlTopic(cfg.Rig), 1, false, payload); !tok.WaitTimeout(*timeout) || tok.Error() != nil {
		fmt.Fprintf(stderr, "twinrig control: publishing to %s: %v\n", events.ControlTopic(cfg.Rig), tok.Error())
		return exitFailed
	}
	deadline := time.After(*timeout)
	for {
		select {
		case msg := <-acks:
			c, ok := msg.Payload.(events.Control)
			if !ok || c.Command != cmd.Command {
				continue
			}
			fmt.Fprintf(stdout, "session %s: %s\n", target.Session, c.State)
			return exitOK
		case <-deadline:
			fmt.Fprintf(stderr, "twinrig control: session %s did not acknowledge %q within %v\n", target.Session, cmd.Command, *timeout)
			return exitFailed
		}
	}
}
