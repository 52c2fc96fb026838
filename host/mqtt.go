package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twinrig/twinrig/host/config"
	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/session"
)

// emitter publishes one session's events.
type emitter struct {
	pub     events.Publisher
	session string
}

var _ session.Emitter = emitter{}

func (e emitter) Emit(ctx context.Context, p events.Payload) error {
	return e.pub.Publish(ctx, events.Event{Session: e.session, Time: time.Now(), Payload: p})
}

// startEvents connects the session's event publisher: through an embedded
// broker (started here) or an external one. It prints where the events go.
// With await > 0 and an embedded broker it waits that long for a client
// to subscribe to the session's topics, so that a dashboard or a test sees
// every event from the first.
func startEvents(ctx context.Context, cfg *config.Config, name string, await time.Duration, h *hostRun) (emitter, string, func(), error) {
	opts := events.Options{Rig: cfg.Rig, QoS: cfg.MQTT.QoS}
	url := cfg.MQTT.Broker
	var broker *events.Broker
	if cfg.MQTT.Embedded() {
		var err error
		// The broker's own info lines (hooks, listeners) are noise here.
		quiet := slog.New(slog.NewTextHandler(h.stderr, &slog.HandlerOptions{Level: max(slog.LevelWarn, h.level)}))
		broker, err = events.StartEmbedded(cfg.MQTT.Listen, events.WithBrokerLogger(quiet))
		if err != nil {
			return emitter{}, "", nil, fmt.Errorf("%s: mqtt: %w", cfg.File, err)
		}
		opts.Broker = broker
		url = broker.URL()
	} else {
		opts.URL, opts.Username, opts.Password = cfg.MQTT.Broker, cfg.MQTT.Username, cfg.MQTT.Password
	}
	pub, err := events.NewPublisher(ctx, opts)
	if err != nil {
		if broker != nil {
			_ = broker.Close()
		}
		return emitter{}, "", nil, fmt.Errorf("%s: mqtt: %w", cfg.File, err)
	}
	closeFn := func() {
		if err := pub.Close(); err != nil {
			h.log.Warn("closing the MQTT publisher", "err", err)
		}
		if broker != nil {
			if err := broker.Close(); err != nil {
				h.log.Warn("closing the MQTT broker", "err", err)
			}
		}
	}
	topic := events.Topic(cfg.Rig, name, "#")
	started := events.Topic(cfg.Rig, name, events.KindStarted)
	fmt.Fprintf(h.stdout, "events: %s topics %s\n", url, topic)
	if await > 0 {
		if broker == nil {
			h.log.Warn("-await-subscriber applies to the embedded broker only; not waiting")
		} else if err := broker.AwaitSubscriber(ctx, started, await); err != nil {
			closeFn()
			return emitter{}, "", nil, err
		}
	}
	return emitter{pub: pub, session: name}, url, closeFn, nil
}

// listenForCommands acts on the commands published on the rig's control
// topic (see docs/mqtt.md): pause, resume or abort this session, each
// acknowledged with a control event. Commands for another session are
// ignored, and so are messages that do not decode (with a warning).
func (e emitter) listenForCommands(ctx context.Context, c *session.Steering, emit session.Emitter, h *hostRun) (func(), error) {
	return e.pub.Commands(func(cmd events.Command, err error) {
		if err != nil {
			h.log.Warn("ignored a control message", "err", err)
			return
		}
		if cmd.Session != "" && cmd.Session != e.session {
			h.log.Warn("ignored a control command for another session", "command", cmd.Command, "session", cmd.Session)
			return
		}
		changed := false
		switch cmd.Command {
		case events.CommandPause:
			changed = c.Pause()
		case events.CommandResume:
			changed = c.Resume()
		case events.CommandAbort:
			changed = c.Abort(cmd.Reason)
		}
		state := c.State()
		if changed {
			line := map[string]string{"paused": "pausing at the end of the trial on screen", "running": "resuming", "aborting": "aborting at the end of the trial on screen"}[state]
			fmt.Fprintf(h.stdout, "control: %s (%s)\n", line, cmd.Command)
		}
		ack := events.Control{Command: cmd.Command, State: state, Reason: cmd.Reason}
		if err := emit.Emit(context.WithoutCancel(ctx), ack); err != nil {
			h.log.Warn("publishing a control event", "err", err)
		}
	})
}
