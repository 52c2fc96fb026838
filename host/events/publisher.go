package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/twinrig/twinrig/rig"
)

// DefaultConnectTimeout is how long NewPublisher tries to reach an external
// broker when Options.ConnectTimeout is zero.
const DefaultConnectTimeout = 10 * time.Second

// Publisher publishes a rig's session events.
//
// A Publisher is safe for concurrent use. Each session's events are numbered
// (the seq field) in the order Publish calls take them, and reach the broker
// in that order.
type Publisher interface {
	// Publish sends ev to twinrig/<rig>/<ev.Session>/<kind>, the kind of
	// its payload, not retained; events of StatusKinds (started,
	// finished) also replace the retained message on
	// twinrig/<rig>/status. Every message goes at the publisher's QoS. It
	// returns once the broker has accepted the message at that QoS (for
	// QoS 0: once it is written), or when ctx ends (the message may then
	// still be delivered). An invalid event (no payload, bad session name,
	// payload values out of range) gives an error matching rig.ErrInvalid
	// and uses no seq. After Close, Publish returns ErrClosed.
	Publish(ctx context.Context, ev Event) error
	// Commands subscribes to the rig's control topic (ControlTopic) and
	// calls handle for every message on it, decoded by DecodeCommand (a
	// message that does not decode comes with the error), from the MQTT
	// client's goroutine, until stop is called or the publisher closes.
	Commands(handle func(Command, error)) (stop func(), err error)
	// Close stops publishing; for an external broker it waits briefly for
	// messages in flight and disconnects. Close is idempotent.
	Close() error
}

// Options configure NewPublisher.
type Options struct {
	// Rig names the rig (topic level 2); required, [A-Za-z0-9_-]{1,128}.
	Rig string
	// QoS is the MQTT quality of service of every message: 0, 1 or 2.
	// The zero value is QoS 0 (the rig config's default is 1).
	QoS byte

	// Broker, when set, is the embedded broker to publish through, in
	// process; the fields below are then unused.
	Broker *Broker

	// URL is the external broker, e.g. tcp://host:1883 (schemes tcp, mqtt,
	// ssl, tls, mqtts, ws, wss), used when Broker is nil.
	URL string
	// Username and Password authenticate with the external broker.
	Username, Password string
	// ClientID identifies the connection; default twinrig-<rig>-<random>.
	ClientID string
	// ConnectTimeout bounds how long NewPublisher keeps trying to reach the
	// external broker; default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Logger receives connection warnings; default slog.Default().
	Logger *slog.Logger
}

// NewPublisher returns a Publisher for o.Rig's events: through the embedded
// broker o.Broker, or over a connection to the external broker o.URL. For an
// external broker it retries the first connection until it succeeds,
// o.ConnectTimeout passes or ctx ends; failing, it returns an error that
// names the URL, says why the last attempt failed and matches
// ErrUnreachable. Once connected, the publisher reconnects by itself, and
// Publish waits for the connection to come back (or its ctx to end).
func NewPublisher(ctx context.Context, o Options) (Publisher, error) {
	if err := checkName("rig", o.Rig); err != nil {
		return nil, err
	}
	if o.QoS > 2 {
		return nil, fmt.Errorf("events: QoS %d is not 0, 1 or 2: %w", o.QoS, rig.ErrInvalid)
	}
	p := &publisher{rig: o.Rig, qos: o.QoS, seq: map[string]uint64{}, broker: o.Broker}
	if o.Broker != nil {
		p.send = func(topic string, payload []byte, retain bool) (paho.Token, error) {
			return nil, o.Broker.publish(topic, payload, retain, o.QoS)
		}
		return p, nil
	}
	if o.URL == "" {
		return nil, fmt.Errorf("events: neither an embedded broker nor a broker URL given: %w", rig.ErrInvalid)
	}
	client, err := connect(ctx, o)
	if err != nil {
		return nil, err
	}
	p.client = client
	p.send = func(topic string, payload []byte, retain bool) (paho.Token, error) {
		return client.Publish(topic, o.QoS, retain, payload), nil
	}
	return p, nil
}

// connect connects to the external broker, retrying until o.ConnectTimeout.
func connect(ctx context.Context, o Options) (paho.Client, error) {
	timeout := o.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("broker", o.URL)
	id := o.ClientID
	if id == "" {
		id = "twinrig-" + o.Rig + "-" + randomHex(4)
	}

	var mu sync.Mutex
	var lastErr error // why the latest connection attempt failed
	connected := false
	opts := paho.NewClientOptions().
		AddBroker(o.URL).
		SetClientID(id).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetCleanSession(true).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(min(timeout/4, time.Second)).
		SetConnectTimeout(min(timeout, 5*time.Second)).
		SetMaxReconnectInterval(10 * time.Second).
		SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
			mu.Lock()
			defer mu.Unlock()
			switch n := n.(type) {
			case paho.ConnectionNotificationBrokerFailed:
				lastErr = n.Reason
			case paho.ConnectionNotificationFailed:
				lastErr = n.Reason
			case paho.ConnectionNotificationConnected:
				if connected {
					log.Info("reconnected to the mqtt broker")
				}
				connected = true
			case paho.ConnectionNotificationLost:
				log.Warn("lost the connection to the mqtt broker; reconnecting", "err", n.Reason)
			}
		})
	client := paho.NewClient(opts)

	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tok := client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("events: %w: %s: %w", ErrUnreachable, o.URL, err)
		}
		return client, nil
	case <-wait.Done():
	}
	client.Disconnect(0) // stops the retries
	mu.Lock()
	why := lastErr
	mu.Unlock()
	if why == nil {
		why = errors.New("no answer")
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("events: %w: %s: %w (last attempt: %w)", ErrUnreachable, o.URL, ctx.Err(), why)
	}
	return nil, fmt.Errorf("events: %w: %s: gave up after %v: %w", ErrUnreachable, o.URL, timeout, why)
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b)
}

// publisher implements Publisher over a send function.
type publisher struct {
	rig    string
	qos    byte
	client paho.Client // nil for the embedded broker
	broker *Broker     // nil for an external broker

	// send starts delivering one message. It returns a token to wait on
	// (nil when delivery is already complete) or an error.
	send func(topic string, payload []byte, retain bool) (paho.Token, error)

	mu     sync.Mutex // orders seq numbers and sends
	seq    map[string]uint64
	closed bool
}

func (p *publisher) Publish(ctx context.Context, ev Event) error {
	if err := checkName("session", ev.Session); err != nil {
		return err
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	kind := ev.Kind()
	topic := Topic(p.rig, ev.Session, kind)

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("events: publish %s: %w", topic, ErrClosed)
	}
	seq := p.seq[ev.Session] + 1
	payload, err := encode(p.rig, seq, ev)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	p.seq[ev.Session] = seq
	type sent struct {
		topic string
		tok   paho.Token
	}
	pending := make([]sent, 0, 2)
	tok, err := p.send(topic, payload, false)
	pending = append(pending, sent{topic, tok})
	if err == nil && slices.Contains(StatusKinds, kind) {
		status := StatusTopic(p.rig)
		tok, err = p.send(status, payload, true)
		pending = append(pending, sent{status, tok})
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}

	for _, s := range pending {
		if s.tok == nil {
			continue
		}
		select {
		case <-s.tok.Done():
			if err := s.tok.Error(); err != nil {
				return fmt.Errorf("events: publish %s: %w", s.topic, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("events: publish %s: %w", s.topic, ctx.Err())
		}
	}
	return nil
}

func (p *publisher) Commands(handle func(Command, error)) (func(), error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("events: subscribe to control: %w", ErrClosed)
	}
	if p.broker != nil {
		return p.broker.subscribeControl(p.rig, handle)
	}
	topic := ControlTopic(p.rig)
	tok := p.client.Subscribe(topic, p.qos, func(_ paho.Client, m paho.Message) {
		handle(DecodeCommand(m.Payload()))
	})
	if !tok.WaitTimeout(DefaultConnectTimeout) {
		return nil, fmt.Errorf("events: subscribe to %s: no answer from the broker within %v", topic, DefaultConnectTimeout)
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("events: subscribe to %s: %w", topic, err)
	}
	return func() { p.client.Unsubscribe(topic).WaitTimeout(time.Second) }, nil
}

func (p *publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if p.client != nil {
		p.client.Disconnect(250) // ms to let messages in flight finish
	}
	return nil
}
