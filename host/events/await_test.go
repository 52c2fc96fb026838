package events

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFilterMatches(t *testing.T) {
	topic := "twinrig/rig-1/demo/started"
	for filter, want := range map[string]bool{
		"#":                            true,
		"twinrig/#":                    true,
		"twinrig/rig-1/#":              true,
		"twinrig/+/demo/started":       true,
		"twinrig/rig-1/demo/+":         true,
		"twinrig/rig-1/demo/started":   true,
		"twinrig/rig-1/demo/started/#": true,
		"twinrig/rig-2/#":              false,
		"twinrig/rig-1/demo":           false,
		"twinrig/+":                    false,
		"twinrig/rig-1/demo/finished":  false,
		"twinrig/#/started":            false,
	} {
		require.Equal(t, want, FilterMatches(filter, topic), "filter %q", filter)
	}
}

func TestAwaitSubscriber(t *testing.T) {
	b, err := StartEmbedded("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	topic := Topic("rig-1", "demo", KindStarted)

	err = b.AwaitSubscriber(context.Background(), topic, 50*time.Millisecond)
	require.ErrorContains(t, err, "no MQTT client subscribed to "+topic)

	done := make(chan error, 1)
	go func() { done <- b.AwaitSubscriber(context.Background(), topic, wait) }()
	other := subscribe(t, b.URL(), "twinrig/rig-2/#")
	_ = other
	select {
	case err := <-done:
		t.Fatalf("a subscriber to another rig ended the wait: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	subscribe(t, b.URL(), "twinrig/rig-1/+/#")
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("the wait did not end when a matching client subscribed")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, b.AwaitSubscriber(ctx, Topic("rig-3", "x", KindStarted), wait), context.Canceled)
}

// Close returns while clients are connected and disconnecting, and ends
// their connections (mochi's own Close could deadlock when a client
// detached during it).
func TestCloseWithClientsDisconnecting(t *testing.T) {
	for range 20 {
		b, err := StartEmbedded("127.0.0.1:0")
		require.NoError(t, err)
		var subs []*subscriber
		for range 4 {
			subs = append(subs, subscribe(t, b.URL(), "twinrig/#"))
		}
		go func() {
			for _, s := range subs[:2] {
				s.client.Disconnect(0)
			}
		}()
		done := make(chan error, 1)
		go func() { done <- b.Close() }()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(wait):
			t.Fatal("Close did not return")
		}
		require.Eventually(t, func() bool { return !subs[3].client.IsConnectionOpen() }, wait, time.Millisecond,
			"Close ends the clients' connections")
	}
}
