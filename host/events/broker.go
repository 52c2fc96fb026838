package events

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/twinrig/twinrig/rig"
)

// Broker is an MQTT broker running inside the host process (mochi-mqtt),
// listening on one TCP address. It accepts every client without
// authentication, which is why StartEmbedded only listens on loopback
// addresses unless told otherwise. Clients may subscribe to every topic and
// publish to every topic outside twinrig/: only the host, publishing in
// process without a socket (see Options.Broker), writes twinrig/ topics, so
// no client can forge a rig's events.
//
// A Broker is safe for concurrent use.
type Broker struct {
	server *mqtt.Server
	ln     net.Listener
	addr   string
	subs   *subscriptionHook

	mu     sync.RWMutex // held for reading while publishing; for writing to close
	closed bool
}

// BrokerOption changes how StartEmbedded sets up a broker.
type BrokerOption func(*brokerOptions)

type brokerOptions struct {
	allowRemote bool
	logger      *slog.Logger
}

// AllowRemoteClients lets StartEmbedded listen on a non-loopback address.
// Every client that can reach it may then read and publish every topic:
// use it only on a network you trust.
func AllowRemoteClients() BrokerOption {
	return func(o *brokerOptions) { o.allowRemote = true }
}

// WithBrokerLogger sends the broker's log to l. By default the broker logs
// warnings and errors to stderr (never to stdout).
func WithBrokerLogger(l *slog.Logger) BrokerOption {
	return func(o *brokerOptions) { o.logger = l }
}

// StartEmbedded starts a broker listening on addr (host:port; port 0 lets
// the OS pick a free port, see Addr). addr must be a loopback address
// (127.0.0.0/8, ::1 or localhost) unless AllowRemoteClients is given; a
// non-loopback address gives an error matching rig.ErrInvalid. The broker
// serves until Close.
func StartEmbedded(addr string, opts ...BrokerOption) (*Broker, error) {
	var o brokerOptions
	for _, opt := range opts {
		opt(&o)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("events: embedded broker address %q: expected host:port: %w", addr, rig.ErrInvalid)
	}
	if !o.allowRemote && !isLoopback(host) {
		return nil, fmt.Errorf("events: embedded broker address %q is not a loopback address; "+
			"the broker accepts every client without authentication, so it listens on 127.0.0.1, ::1 or localhost "+
			"unless AllowRemoteClients is given: %w", addr, rig.ErrInvalid)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("events: embedded broker: listen on %s: %w", addr, err)
	}
	server := mqtt.New(&mqtt.Options{InlineClient: true, Logger: o.logger.With("component", "mqtt-broker")})
	// mochi rejects every client until an auth hook allows them; this one
	// allows all, which is safe on loopback (checked above) unless the
	// caller accepted the risk.
	if err := server.AddHook(new(openHook), nil); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("events: embedded broker: add auth hook: %w", err)
	}
	subs := &subscriptionHook{changed: make(chan struct{})}
	if err := server.AddHook(subs, nil); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("events: embedded broker: add subscription hook: %w", err)
	}
	if err := server.AddListener(listeners.NewNet("twinrig", ln)); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("events: embedded broker: add listener: %w", err)
	}
	if err := server.Serve(); err != nil {
		_ = server.Close()
		return nil, fmt.Errorf("events: embedded broker: serve: %w", err)
	}
	return &Broker{server: server, ln: ln, addr: ln.Addr().String(), subs: subs}, nil
}

// openHook lets every client connect and subscribe, and publish outside
// twinrig/ or on a rig's control topic (the in-process host client
// bypasses it).
type openHook struct{ mqtt.HookBase }

func (*openHook) ID() string { return "twinrig-open" }

func (*openHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (*openHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (*openHook) OnACLCheck(_ *mqtt.Client, topic string, write bool) bool {
	return !write || !strings.HasPrefix(topic, TopicRoot+"/") || isControlTopic(topic)
}

// subscriptionHook remembers every filter clients subscribed to, so that
// AwaitSubscriber can wait for one.
type subscriptionHook struct {
	mqtt.HookBase
	mu      sync.Mutex
	filters []string
	changed chan struct{} // closed and replaced on every subscription
}

func (*subscriptionHook) ID() string { return "twinrig-subscriptions" }

func (*subscriptionHook) Provides(b byte) bool { return b == mqtt.OnSubscribed }

func (h *subscriptionHook) OnSubscribed(_ *mqtt.Client, pk packets.Packet, codes []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, f := range pk.Filters {
		if i < len(codes) && codes[i] <= packets.CodeGrantedQos2.Code {
			h.filters = append(h.filters, f.Filter)
		}
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// matching reports whether a subscribed filter matches topic, and returns
// the channel that is closed on the next subscription.
func (h *subscriptionHook) matching(topic string) (bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range h.filters {
		if FilterMatches(f, topic) {
			return true, h.changed
		}
	}
	return false, h.changed
}

// AwaitSubscriber waits until some client has subscribed to a filter that
// matches topic (e.g. a session's started topic), for at most timeout. It
// lets a dashboard or a test see a session's events from the first. It
// returns an error when the timeout passes or ctx ends first.
func (b *Broker) AwaitSubscriber(ctx context.Context, topic string, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		ok, changed := b.subs.matching(topic)
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return fmt.Errorf("events: no MQTT client subscribed to %s within %s", topic, timeout)
		case <-ctx.Done():
			return fmt.Errorf("events: waiting for a subscriber to %s: %w", topic, ctx.Err())
		}
	}
}

// FilterMatches reports whether the MQTT topic filter (with + and #
// wildcards) matches topic.
func FilterMatches(filter, topic string) bool {
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fs {
		switch {
		case f == "#":
			return i == len(fs)-1
		case i >= len(ts):
			return false
		case f != "+" && f != ts[i]:
			return false
		}
	}
	return len(fs) == len(ts)
}

// isLoopback reports whether host names the loopback interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Addr returns the host:port the broker listens on, with the port the OS
// chose when StartEmbedded was given port 0.
func (b *Broker) Addr() string { return b.addr }

// URL returns the broker's address as a client URL, tcp://host:port.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close disconnects every client and stops the broker. Publishing through
// it afterwards gives ErrClosed. Close is idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.detachClients(2 * time.Second)
	return b.server.Close()
}

// detachClients stops accepting connections, disconnects every network
// client and waits (at most timeout) until each has detached. mochi v2.7.9's
// Close can deadlock when a client detaches while Close lists the
// listener's clients (Clients.GetByListener takes the read lock twice, and
// a detaching client's Delete waits for the write lock in between): after
// this, no client is left to detach.
func (b *Broker) detachClients(timeout time.Duration) {
	_ = b.ln.Close()
	for _, cl := range b.server.Clients.GetAll() {
		if !cl.Net.Inline {
			_ = b.server.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		pending := false
		for _, cl := range b.server.Clients.GetAll() {
			// A client whose session expires is deleted when it detaches;
			// one with a persistent session stays, closed.
			expires := (cl.Properties.ProtocolVersion == 5 && cl.Properties.Props.SessionExpiryInterval == 0) ||
				(cl.Properties.ProtocolVersion < 5 && cl.Properties.Clean)
			if !cl.Net.Inline && (!cl.Closed() || (expires && !cl.IsTakenOver())) {
				pending = true
				break
			}
		}
		if !pending {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// publish delivers a message to the broker's subscribers, in process.
func (b *Broker) publish(topic string, payload []byte, retain bool, qos byte) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return fmt.Errorf("events: embedded broker: %w", ErrClosed)
	}
	if err := b.server.Publish(topic, payload, retain, qos); err != nil {
		return fmt.Errorf("events: embedded broker: publish to %s: %w", topic, err)
	}
	return nil
}
