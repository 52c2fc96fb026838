package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// wait bounds how long a test waits for something that should happen at
// once; it only turns a hang into a failure, it measures nothing.
const wait = 10 * time.Second

// subscriber is a paho client that queues what it receives.
type subscriber struct {
	url    string
	client paho.Client
	msgs   chan paho.Message
}

// subscribe connects to url and subscribes to filter at QoS 1.
func subscribe(t testing.TB, url, filter string) *subscriber {
	t.Helper()
	s := &subscriber{url: url, msgs: make(chan paho.Message, 4096)}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("test-sub-%s", randomHex(4))).
		SetCleanSession(true).SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { s.msgs <- m })
	s.client = paho.NewClient(opts)
	tok := s.client.Connect()
	require.True(t, tok.WaitTimeout(wait), "connect to %s", url)
	require.NoError(t, tok.Error())
	tok = s.client.Subscribe(filter, 1, nil)
	require.True(t, tok.WaitTimeout(wait), "subscribe to %s", filter)
	require.NoError(t, tok.Error())
	t.Cleanup(func() { s.client.Disconnect(0) })
	return s
}

// next returns the next message.
func (s *subscriber) next(t testing.TB) paho.Message {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(wait):
		require.FailNow(t, "no message arrived")
		return nil
	}
}

// startBroker starts an embedded broker on a free loopback port.
func startBroker(t testing.TB) *Broker {
	t.Helper()
	b, err := StartEmbedded("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// sessionEvents is a short session, in the order the host sends it.
func sessionEvents(session string) []Event {
	at := func(s int) time.Time { return testTime.Add(time.Duration(s) * time.Second) }
	return []Event{
		{Session: session, Time: at(0), Payload: Started{
			Protocol: "skeleton", Clock: "virtual", Neurons: 3,
			Plugins: PluginNames{Stimulus: "sim-stimulus", Acquisition: "sim-acquisition", Model: "sim-model"},
		}},
		{Session: session, Time: at(1), Payload: Block{Block: "natural", Index: 0, Frames: 300, OnsetS: 0, Repeats: 1, Trials: 1}},
		{Session: session, Time: at(1), Payload: Trial{Block: "natural", Index: 0, Repeats: 1, Frames: 300, OnsetS: 0,
			Stimulus: json.RawMessage(`{"family":"natural","seed":11}`)}},
		{Session: session, Time: at(11), Payload: Accuracy{
			Block: "natural", Neurons: 3, MedianR: 0.5, Q1R: 0.25, Q3R: 0.625, PerNeuron: []float64{0.25, 0.5, 0.625},
		}},
		{Session: session, Time: at(12), Payload: Block{Block: "gabor", Index: 1, Frames: 150, OnsetS: 10}},
		{Session: session, Time: at(13), Payload: ErrorReport{Message: "dropped 2 frames", Plugin: "stimulus"}},
		{Session: session, Time: at(20), Payload: Finished{Status: StatusOK, DurationS: 15, FramesShown: 450, Scans: 225}},
	}
}

// checkSession publishes a session's events and checks that sub receives
// each on its topic, in order, numbered from 1, with every field intact,
// and the started and finished events also on the status topic.
func checkSession(t *testing.T, pub Publisher, sub *subscriber, rigName, session string) {
	t.Helper()
	sent := sessionEvents(session)
	for _, ev := range sent {
		require.NoError(t, pub.Publish(context.Background(), ev))
	}

	var status []Message
	for i := 0; i < len(sent); {
		m := sub.next(t)
		msg, err := DecodeEvent(m.Payload())
		require.NoError(t, err, "payload %s", m.Payload())
		if m.Topic() == StatusTopic(rigName) {
			status = append(status, msg)
			continue
		}
		ev := sent[i]
		i++
		require.Equal(t, Topic(rigName, session, ev.Kind()), m.Topic())
		require.False(t, m.Retained())
		require.Equal(t, uint64(i), msg.Seq)
		require.Equal(t, rigName, msg.Rig)
		require.Equal(t, session, msg.Session)
		require.Equal(t, ev.Kind(), msg.Kind())
		require.True(t, ev.Time.Equal(msg.Time))
		require.Equal(t, ev.Payload, msg.Payload)

		var raw map[string]any
		require.NoError(t, json.Unmarshal(m.Payload(), &raw))
		require.Equal(t, float64(1), raw["schema"])
		require.Equal(t, ev.Time.UTC().Format(time.RFC3339Nano), raw["time"])
		require.Equal(t, float64(i), raw["seq"])
	}
	// The status copies may arrive before or after the last session
	// message; wait for the ones still missing.
	for len(status) < 2 {
		m := sub.next(t)
		require.Equal(t, StatusTopic(rigName), m.Topic())
		msg, err := DecodeEvent(m.Payload())
		require.NoError(t, err)
		status = append(status, msg)
	}
	require.Equal(t, KindStarted, status[0].Kind())
	require.Equal(t, uint64(1), status[0].Seq)
	require.Equal(t, KindFinished, status[1].Kind())
	require.Equal(t, uint64(len(sent)), status[1].Seq)

	// A subscriber that comes late finds the latest status retained.
	late := subscribe(t, sub.url, StatusTopic(rigName))
	m := late.next(t)
	require.True(t, m.Retained())
	msg, err := DecodeEvent(m.Payload())
	require.NoError(t, err)
	require.Equal(t, KindFinished, msg.Kind())
	require.Equal(t, session, msg.Session)
}

func TestEmbeddedBrokerDeliversSessionInOrder(t *testing.T) {
	b := startBroker(t)
	sub := subscribe(t, b.URL(), "twinrig/rig-1/#")
	pub, err := NewPublisher(context.Background(), Options{Rig: "rig-1", QoS: 1, Broker: b})
	require.NoError(t, err)
	defer func() { require.NoError(t, pub.Close()) }()

	checkSession(t, pub, sub, "rig-1", "demo-20261126T182500")
}

func TestEmbeddedBrokerConcurrentPublishers(t *testing.T) {
	b := startBroker(t)
	sub := subscribe(t, b.URL(), "twinrig/rig-1/+/block")
	pub, err := NewPublisher(context.Background(), Options{Rig: "rig-1", QoS: 1, Broker: b})
	require.NoError(t, err)
	defer pub.Close()

	const goroutines, each = 8, 50
	sessions := []string{"a", "b"}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				ev := Event{Session: sessions[g%2], Payload: Block{Block: fmt.Sprint(g), Index: i}}
				if err := pub.Publish(context.Background(), ev); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	// Each session's messages arrive numbered 1, 2, 3, ... with no gap.
	last := map[string]uint64{}
	for range goroutines * each {
		m, err := DecodeEvent(sub.next(t).Payload())
		require.NoError(t, err)
		require.Equal(t, last[m.Session]+1, m.Seq, "session %s", m.Session)
		last[m.Session] = m.Seq
	}
	require.Equal(t, map[string]uint64{"a": goroutines / 2 * each, "b": goroutines / 2 * each}, last)
}

func TestPublishRejectsInvalidEventsWithoutUsingSeq(t *testing.T) {
	b := startBroker(t)
	sub := subscribe(t, b.URL(), "twinrig/rig-1/s/#")
	pub, err := NewPublisher(context.Background(), Options{Rig: "rig-1", QoS: 1, Broker: b})
	require.NoError(t, err)
	defer pub.Close()

	for _, ev := range []Event{
		{Session: "s"},
		{Session: "s", Payload: (*Block)(nil)},
		{Session: "a/b", Payload: Block{Block: "x"}},
		{Session: "s", Payload: Started{Protocol: "p", Clock: "daylight"}},
		{Session: "s", Payload: Finished{Status: "done"}},
	} {
		require.ErrorIs(t, pub.Publish(context.Background(), ev), rig.ErrInvalid)
	}
	require.NoError(t, pub.Publish(context.Background(), Event{Session: "s", Payload: Block{Block: "x"}}))

	m, err := DecodeEvent(sub.next(t).Payload())
	require.NoError(t, err)
	require.Equal(t, uint64(1), m.Seq)
}

func TestPublishAfterClose(t *testing.T) {
	ev := Event{Session: "s", Payload: Block{Block: "x"}}
	b, err := StartEmbedded("127.0.0.1:0")
	require.NoError(t, err)
	pub, err := NewPublisher(context.Background(), Options{Rig: "r", Broker: b})
	require.NoError(t, err)
	require.NoError(t, pub.Publish(context.Background(), ev))

	require.NoError(t, b.Close())
	require.ErrorIs(t, pub.Publish(context.Background(), ev), ErrClosed)
	require.NoError(t, b.Close(), "second Close")
	require.NoError(t, pub.Close())
	require.ErrorIs(t, pub.Publish(context.Background(), ev), ErrClosed)
	require.NoError(t, pub.Close(), "second Close")
}

func TestEmbeddedBrokerRefusesForgedEvents(t *testing.T) {
	b := startBroker(t)
	sub := subscribe(t, b.URL(), "#")
	forger := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("forger"))
	tok := forger.Connect()
	require.True(t, tok.WaitTimeout(wait))
	require.NoError(t, tok.Error())
	defer forger.Disconnect(0)

	// QoS 0 messages from one client reach a subscriber in order: had the
	// first been accepted, it would arrive before the second.
	forger.Publish(Topic("rig-1", "s", KindFinished), 0, false, `{"schema":1}`).WaitTimeout(wait)
	forger.Publish("lab/notes", 0, false, "hello").WaitTimeout(wait)

	m := sub.next(t)
	require.Equal(t, "lab/notes", m.Topic())
}

func TestStartEmbeddedAddresses(t *testing.T) {
	tests := []struct {
		addr  string
		opts  []BrokerOption
		error string
	}{
		{addr: "127.0.0.1:0"},
		{addr: "localhost:0"},
		{addr: "[::1]:0"},
		{addr: "0.0.0.0:0", error: `embedded broker address "0.0.0.0:0" is not a loopback address`},
		{addr: ":0", error: `embedded broker address ":0" is not a loopback address`},
		{addr: "0.0.0.0:0", opts: []BrokerOption{AllowRemoteClients()}},
		{addr: "127.0.0.1", error: "expected host:port"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			b, err := StartEmbedded(tc.addr, tc.opts...)
			if tc.error != "" {
				require.ErrorIs(t, err, rig.ErrInvalid)
				require.ErrorContains(t, err, tc.error)
				return
			}
			if err != nil && strings.Contains(tc.addr, "::1") {
				t.Skipf("no IPv6 loopback here: %v", err)
			}
			require.NoError(t, err)
			defer b.Close()
			_, port, err := net.SplitHostPort(b.Addr())
			require.NoError(t, err)
			require.NotEqual(t, "0", port)
			require.Equal(t, "tcp://"+b.Addr(), b.URL())
			subscribe(t, strings.Replace(b.URL(), "0.0.0.0", "127.0.0.1", 1), "x") // reachable
		})
	}
}

func TestNewPublisherOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		msg  string
	}{
		{"no rig", Options{URL: "tcp://127.0.0.1:1"}, `rig "" is not a valid name`},
		{"rig with slash", Options{Rig: "a/b", URL: "tcp://127.0.0.1:1"}, `rig "a/b" is not a valid name`},
		{"qos 3", Options{Rig: "r", QoS: 3, URL: "tcp://127.0.0.1:1"}, "QoS 3 is not 0, 1 or 2"},
		{"no broker", Options{Rig: "r"}, "neither an embedded broker nor a broker URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPublisher(context.Background(), tc.opts)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

// closedPortURL returns the URL of a loopback port nothing listens on.
func closedPortURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "tcp://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	return url
}

func TestNewPublisherUnreachableBroker(t *testing.T) {
	url := closedPortURL(t)

	_, err := NewPublisher(context.Background(), Options{Rig: "r", QoS: 1, URL: url, ConnectTimeout: 300 * time.Millisecond})

	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorContains(t, err, "events: mqtt broker unreachable: "+url+": gave up after 300ms: ")
	require.ErrorContains(t, err, "connection refused")
}

func TestNewPublisherContextEnds(t *testing.T) {
	url := closedPortURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := NewPublisher(ctx, Options{Rig: "r", URL: url})

	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, url)
}

// mosquitto starts a mosquitto broker on a free loopback port and returns
// its URL, or skips the test when mosquitto is not installed.
func mosquitto(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} { // not always on PATH
			if _, statErr := os.Stat(filepath.Join(dir, "mosquitto")); statErr == nil {
				bin, err = filepath.Join(dir, "mosquitto"), nil
				break
			}
		}
	}
	if err != nil {
		t.Skip("mosquitto is not installed; `make test` installs it (Debian package mosquitto)")
	}
	// Take a free port, then hand it to mosquitto; another process could
	// grab it in between, which the wait below would report.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	require.NoError(t, ln.Close())

	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(
		"listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n", port)), 0o644))
	var stderr strings.Builder
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})

	deadline := time.Now().Add(wait)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return "tcp://" + addr
		}
		select {
		case <-done:
			require.FailNow(t, "mosquitto exited", "%s", stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "mosquitto does not listen on %s: %v", addr, err)
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExternalMosquitto(t *testing.T) {
	url := mosquitto(t)
	sub := subscribe(t, url, "twinrig/rig-2/#")
	pub, err := NewPublisher(context.Background(), Options{Rig: "rig-2", QoS: 1, URL: url, ConnectTimeout: wait})
	require.NoError(t, err)
	defer func() { require.NoError(t, pub.Close()) }()

	checkSession(t, pub, sub, "rig-2", "demo")
}

func TestExternalMosquittoQoS2(t *testing.T) {
	url := mosquitto(t)
	sub := subscribe(t, url, "twinrig/rig-3/#")
	pub, err := NewPublisher(context.Background(), Options{Rig: "rig-3", QoS: 2, URL: url})
	require.NoError(t, err)
	defer pub.Close()

	require.NoError(t, pub.Publish(context.Background(), Event{Session: "s", Payload: Block{Block: "b"}}))

	m := sub.next(t)
	require.Equal(t, "twinrig/rig-3/s/block", m.Topic())
}

func benchmarkPublish(b *testing.B, pub Publisher) {
	ev := Event{Session: "s", Payload: Block{Block: "natural", Index: 1, Frames: 300, OnsetS: 10}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.Publish(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishEmbedded measures one QoS 1 publish through the embedded
// broker to one subscriber (the subscriber's receipt is not awaited).
func BenchmarkPublishEmbedded(b *testing.B) {
	broker := startBroker(b)
	sub := subscribe(b, broker.URL(), "twinrig/#")
	go func() {
		for range sub.msgs {
		}
	}()
	pub, err := NewPublisher(context.Background(), Options{Rig: "r", QoS: 1, Broker: broker})
	require.NoError(b, err)
	defer pub.Close()
	benchmarkPublish(b, pub)
}

// BenchmarkPublishMosquitto measures one QoS 1 publish to mosquitto over
// loopback TCP, waiting for the broker's acknowledgement each time.
func BenchmarkPublishMosquitto(b *testing.B) {
	url := mosquitto(b)
	pub, err := NewPublisher(context.Background(), Options{Rig: "r", QoS: 1, URL: url})
	require.NoError(b, err)
	defer pub.Close()
	benchmarkPublish(b, pub)
}
