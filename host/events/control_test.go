package events

import (
	"context"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

func TestDecodeCommand(t *testing.T) {
	c, err := DecodeCommand([]byte(`{"command":"pause","session":"demo-1","reason":"coffee"}`))
	require.NoError(t, err)
	require.Equal(t, Command{Command: CommandPause, Session: "demo-1", Reason: "coffee"}, c)
	for _, tc := range []struct{ in, want string }{
		{`{"command":"stop"}`, `command "stop", expected "pause", "resume" or "abort"`},
		{`{"command":"pause","extra":1}`, `unknown field "extra"`},
		{`{"command":"pause","session":"a/b"}`, `session "a/b" is not a valid name`},
		{`{"command":"abort"} {}`, `data after the JSON object`},
		{`pause`, `expected a JSON object like`},
		{`{"command":"abort","reason":"` + strings.Repeat("x", 300) + `"}`, `reason of 300 bytes`},
		{strings.Repeat(" ", MaxCommandBytes+1), `expected at most 4096`},
	} {
		_, err := DecodeCommand([]byte(tc.in))
		require.ErrorIs(t, err, rig.ErrInvalid, tc.in)
		require.ErrorContains(t, err, tc.want)
	}
	_, err = Command{Command: "go"}.Encode()
	require.ErrorIs(t, err, rig.ErrInvalid)
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte(`{"command":"pause"}`))
	f.Add([]byte(`{"command":"resume","session":"s-1","reason":"x"}`))
	f.Add([]byte(`{"command":"abort","session":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		again, err := c.Encode()
		require.NoError(t, err)
		back, err := DecodeCommand(again)
		require.NoError(t, err)
		require.Equal(t, c, back)
	})
}

// TestCommandsThroughTheEmbeddedBroker: a dashboard's client may publish
// on the rig's control topic (and only there among twinrig topics); the
// host's publisher receives the commands, decoded, until it stops.
func TestCommandsThroughTheEmbeddedBroker(t *testing.T) {
	b := startBroker(t)
	pub, err := NewPublisher(context.Background(), Options{Rig: "rig-1", Broker: b})
	require.NoError(t, err)
	defer pub.Close()
	type got struct {
		c   Command
		err error
	}
	ch := make(chan got, 4)
	stop, err := pub.Commands(func(c Command, err error) { ch <- got{c, err} })
	require.NoError(t, err)

	client := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("dashboard"))
	tok := client.Connect()
	require.True(t, tok.WaitTimeout(wait))
	require.NoError(t, tok.Error())
	defer client.Disconnect(0)
	send := func(topic, payload string) {
		// QoS 0: the broker drops a refused message; at QoS 1 it would
		// drop the client instead.
		tok := client.Publish(topic, 0, false, payload)
		require.True(t, tok.WaitTimeout(wait))
	}
	next := func() got {
		select {
		case g := <-ch:
			return g
		case <-time.After(wait):
			require.FailNow(t, "no command arrived")
			return got{}
		}
	}

	send(ControlTopic("rig-1"), `{"command":"pause","reason":"check the eye"}`)
	g := next()
	require.NoError(t, g.err)
	require.Equal(t, Command{Command: CommandPause, Reason: "check the eye"}, g.c)

	send(ControlTopic("rig-1"), `{"command":"explode"}`)
	require.ErrorIs(t, next().err, rig.ErrInvalid)

	// Another rig's commands and forged events do not arrive; the next
	// command does, so nothing was lost in between.
	send(ControlTopic("rig-2"), `{"command":"abort"}`)
	send(Topic("rig-1", "s", KindFinished), `{"schema":1}`)
	send(ControlTopic("rig-1"), `{"command":"resume"}`)
	g = next()
	require.NoError(t, g.err)
	require.Equal(t, CommandResume, g.c.Command)

	stop()
	send(ControlTopic("rig-1"), `{"command":"abort"}`)
	select {
	case g := <-ch:
		require.FailNow(t, "a command arrived after stop", "%+v", g)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestCommandsThroughMosquitto(t *testing.T) {
	url := mosquitto(t)
	pub, err := NewPublisher(context.Background(), Options{Rig: "rig-4", QoS: 1, URL: url, ConnectTimeout: wait})
	require.NoError(t, err)
	defer pub.Close()
	ch := make(chan Command, 1)
	stop, err := pub.Commands(func(c Command, err error) {
		if err == nil {
			ch <- c
		}
	})
	require.NoError(t, err)
	defer stop()
	client := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("dashboard-4"))
	tok := client.Connect()
	require.True(t, tok.WaitTimeout(wait))
	require.NoError(t, tok.Error())
	defer client.Disconnect(0)
	require.True(t, client.Publish(ControlTopic("rig-4"), 1, false, `{"command":"abort","session":"demo"}`).WaitTimeout(wait))
	select {
	case c := <-ch:
		require.Equal(t, Command{Command: CommandAbort, Session: "demo"}, c)
	case <-time.After(wait):
		require.FailNow(t, "no command arrived through mosquitto")
	}
}
