package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/twinrig/twinrig/internal/yamldoc"
	"github.com/twinrig/twinrig/rig"
)

// extensionPrefix starts top-level keys that Parse ignores: a place to
// define anchors that the rest of the file refers to.
const extensionPrefix = "x-"

// maxNameLen bounds rig and session names (they become MQTT topic levels and
// directory names).
const maxNameLen = 64

var (
	namePattern   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	envVarPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	brokerSchemes = []string{"tcp", "mqtt", "ssl", "tls", "mqtts"}
)

func parse(name string, data []byte, baseDir string) (*Config, error) {
	docs, err := yamldoc.Parse(name, data)
	if err != nil {
		var p *yamldoc.Problem
		if errors.As(err, &p) {
			return nil, p
		}
		return nil, fmt.Errorf("config: parse %s: %w", name, err)
	}
	var doc *ast.DocumentNode
	var body ast.Node
	if len(docs) > 0 {
		doc, body = docs[0], docs[0].Body
	}
	d := &decoder{yamldoc.NewDecoder(name, data, doc)}
	if len(docs) > 1 {
		d.Addf(yamldoc.PosOf(docs[1].Body), "", "a second YAML document; a config file holds one")
	}
	c := &Config{File: name, Dir: baseDir}
	root := d.object(body, "", yamldoc.Pos{Line: 1, Col: 1}, "the config file", "rig", "session", "plugins", "mqtt")
	if !root.bad {
		d.decodeConfig(root, c)
	}
	if problems := d.Problems(); len(problems) > 0 {
		errs := make([]error, len(problems))
		for i, p := range problems {
			errs[i] = p
		}
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// decoder reads a config document with the schema's helpers.
type decoder struct {
	*yamldoc.Decoder
}

func (d *decoder) decodeConfig(root *object, c *Config) {
	c.Rig = d.name(root, "rig", "a rig name", true, "")

	s := d.object(root.value("session"), "session", root.keyPos("session"), "the session", "name", "clock", "protocol", "output")
	c.Session.Name = d.name(s, "name", "a session name", false, DefaultSessionName)
	switch clock, at, st := d.str(s, "clock", "a clock"); {
	case st != present:
		c.Session.Clock = DefaultClock
	case clock == rig.VirtualClock.String():
		c.Session.Clock = rig.VirtualClock
	case clock == rig.RealClock.String():
		c.Session.Clock = rig.RealClock
	default:
		d.Addf(at, "session.clock", "%q is not one of virtual, real", clock)
	}
	if p, at, ok := d.requiredStr(s, "protocol", "the protocol file path"); ok {
		c.Session.Protocol = d.resolvePath(c.Dir, p)
		d.checkFile(at, "session.protocol", c.Session.Protocol)
	}
	c.Session.Output = d.resolvePath(c.Dir, DefaultOutput)
	if out, at, st := d.str(s, "output", "a directory path"); st == present {
		if out == "" {
			d.Addf(at, "session.output", "empty; expected a directory path")
		}
		c.Session.Output = d.resolvePath(c.Dir, out)
		if fi, err := os.Stat(c.Session.Output); err == nil && !fi.IsDir() {
			d.Addf(at, "session.output", "%q exists and is not a directory", c.Session.Output)
		}
	}

	pv, ok := root.get("plugins")
	if !ok {
		d.Addf(root.at, "plugins", "missing: the stimulus, acquisition and model plugins are required")
	} else {
		p := d.object(pv.Value, "plugins", pv.At, "the plugins", "stimulus", "acquisition", "model")
		c.Stimulus = d.plugin(p, "stimulus", c.Dir)
		c.Acquisition = d.plugin(p, "acquisition", c.Dir)
		c.Model = d.plugin(p, "model", c.Dir)
	}

	d.decodeMQTT(d.object(root.value("mqtt"), "mqtt", root.keyPos("mqtt"), "the MQTT settings",
		"broker", "listen", "username", "password", "password_env", "qos"), &c.MQTT)
}

func (d *decoder) plugin(plugins *object, role, dir string) PluginConfig {
	field := "plugins." + role
	pc := PluginConfig{Settings: json.RawMessage("{}"), StartTimeout: DefaultStartTimeout, Dir: dir}
	e, ok := plugins.get(role)
	if !ok {
		if !plugins.bad {
			d.Addf(plugins.at, field, "missing: the %s plugin is required", role)
		}
		return pc
	}
	o := d.object(e.Value, field, e.At, "a plugin", "path", "args", "settings", "start_timeout", "sha256", "mtls")
	if o.bad {
		return pc
	}
	if p, at, ok := d.requiredStr(o, "path", "a plugin binary path"); ok {
		pc.Path = d.resolvePath(dir, p)
		d.checkExecutable(at, field+".path", pc.Path)
	}
	if a, ok := o.get("args"); ok {
		r, _ := d.Resolve(a.Value, field+".args")
		switch seq := r.(type) {
		case *ast.NullNode:
		case *ast.SequenceNode:
			for i, item := range seq.Values {
				f := fmt.Sprintf("%s.args[%d]", field, i)
				ri, isStr := d.Resolve(item, f)
				if ri == nil {
					continue
				}
				s, ok := yamldoc.Text(ri, isStr, true)
				if !ok {
					d.Addf(yamldoc.PosOf(item), f, "got %s; expected a string", yamldoc.Describe(ri))
					continue
				}
				pc.Args = append(pc.Args, s)
			}
		case nil:
		default:
			d.Addf(yamldoc.PosOf(a.Value), field+".args", "got %s; expected a list of strings", yamldoc.Describe(r))
		}
	}
	if s, ok := o.get("settings"); ok {
		f := field + ".settings"
		r, _ := d.Resolve(s.Value, f)
		switch r.(type) {
		case *ast.NullNode:
		case *ast.MappingNode:
			if settings, ok := d.JSON(s.Value, f); ok {
				pc.Settings = settings
			}
		case nil:
		default:
			d.Addf(yamldoc.PosOf(s.Value), f, "got %s; expected a mapping (it reaches the plugin as a JSON object)", yamldoc.Describe(r))
		}
	}
	if t, at, st := d.str(o, "start_timeout", "a duration such as 10s"); st == present {
		dur, err := time.ParseDuration(t)
		switch {
		case err != nil:
			d.Addf(at, field+".start_timeout", "%q is not a duration; expected a number with a unit, such as 10s or 1m30s", t)
		case dur <= 0:
			d.Addf(at, field+".start_timeout", "%q is not positive; expected a duration such as 10s", t)
		default:
			pc.StartTimeout = dur
		}
	}
	if e, ok := o.get("sha256"); ok {
		f, at := field+".sha256", yamldoc.PosOf(e.Value)
		// As written: a hash of decimal digits reads as a YAML number.
		if r, isStr := d.Resolve(e.Value, f); r != nil {
			if h, ok := yamldoc.Text(r, isStr, true); ok {
				d.checkSHA256(at, f, role, h, &pc)
			} else {
				d.Addf(at, f, "got %s; expected a SHA-256 in hex", yamldoc.Describe(r))
			}
		}
	}
	if e, ok := o.get("mtls"); ok {
		f := field + ".mtls"
		r, isStr := d.Resolve(e.Value, f)
		if b, ok := r.(*ast.BoolNode); ok && !isStr {
			pc.Insecure = !b.Value
		} else if r != nil {
			d.Addf(yamldoc.PosOf(e.Value), f, "got %s; expected true (the default) or false, unquoted", yamldoc.Describe(r))
		}
	}
	return pc
}

// sha256Hex matches a SHA-256 written in hex.
var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// checkSHA256 checks a plugin's pinned hash h: its form, and, when the
// plugin's binary is a readable file, that it is the binary's.
func (d *decoder) checkSHA256(at yamldoc.Pos, field, role, h string, pc *PluginConfig) {
	if !sha256Hex.MatchString(h) {
		d.Addf(at, field, "%q is not a SHA-256; expected 64 hex digits (sha256sum prints them)", h)
		return
	}
	pc.SHA256 = strings.ToLower(h)
	if pc.Path == "" {
		return
	}
	if fi, err := os.Stat(pc.Path); err != nil || !fi.Mode().IsRegular() {
		return // the path's own problem is reported
	}
	actual, err := rig.FileSHA256(pc.Path)
	switch {
	case err != nil:
		d.Addf(at, field, "the %s plugin's binary cannot be read to check its hash: %v", role, err)
	case actual != pc.SHA256:
		d.Addf(at, field, "the %s plugin's binary %q does not match: expected sha256 %s, actual %s", role, pc.Path, pc.SHA256, actual)
	}
}

func (d *decoder) decodeMQTT(o *object, m *MQTT) {
	m.Broker = DefaultBroker
	m.QoS = DefaultQoS
	if o.bad {
		return
	}
	if b, at, st := d.str(o, "broker", "a broker"); st == present {
		if b == BrokerEmbedded || validBrokerURL(b) {
			m.Broker = b
		} else {
			d.Addf(at, "mqtt.broker", "%q is not a broker; expected %q or a URL such as tcp://host:1883 (schemes %s)",
				b, BrokerEmbedded, strings.Join(brokerSchemes, ", "))
			m.Broker = ""
		}
	}
	embedded := m.Broker == BrokerEmbedded
	external := m.Broker != "" && !embedded

	if l, at, st := d.str(o, "listen", "a loopback host:port"); st == present {
		if external {
			d.Addf(at, "mqtt.listen", "only applies to the embedded broker; mqtt.broker is %q", m.Broker)
		} else if msg := checkLoopback(l); msg != "" {
			d.Addf(at, "mqtt.listen", "%q %s", l, msg)
		} else {
			m.Listen = l
		}
	} else if embedded {
		m.Listen = DefaultListen
	}

	onlyExternal := func(key string, at yamldoc.Pos) bool {
		if embedded {
			d.Addf(at, "mqtt."+key, "only applies to an external broker; the embedded broker takes no credentials")
			return false
		}
		return true
	}
	if u, at, st := d.str(o, "username", "a user name"); st == present && onlyExternal("username", at) {
		m.Username = u
	}
	pw, pwAt, pwState := d.str(o, "password", "a password")
	hasPW := pwState == present
	if hasPW && onlyExternal("password", pwAt) {
		m.Password = pw
	}
	if env, at, st := d.str(o, "password_env", "an environment variable name"); st == present && onlyExternal("password_env", at) {
		switch value, set := os.LookupEnv(env); {
		case hasPW:
			d.Addf(at, "mqtt.password_env", "conflicts with mqtt.password; give one of them")
		case !envVarPattern.MatchString(env):
			d.Addf(at, "mqtt.password_env", "%q is not an environment variable name; expected letters, digits and '_'", env)
		case !set:
			d.Addf(at, "mqtt.password_env", "environment variable %q is not set", env)
		default:
			m.PasswordEnv, m.Password = env, value
		}
	}

	if q, ok := o.get("qos"); ok {
		r, _ := d.Resolve(q.Value, "mqtt.qos")
		if v, isInt := yamldoc.Uint(r); isInt && v <= 2 {
			m.QoS = byte(v)
		} else if r != nil {
			d.Addf(yamldoc.PosOf(q.Value), "mqtt.qos", "got %s; expected 0, 1 or 2", yamldoc.Describe(r))
		}
	}
}

// validBrokerURL reports whether s is scheme://host:port with a supported
// scheme and nothing else.
func validBrokerURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || !slices.Contains(brokerSchemes, u.Scheme) || u.User != nil ||
		u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	port, err := strconv.Atoi(u.Port())
	return err == nil && port > 0 && port <= 65535
}

// checkLoopback returns "" if s is a loopback host:port, or what is wrong.
func checkLoopback(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "is not host:port; expected e.g. 127.0.0.1:1883 (port 0 picks a free port)"
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "has no valid port; expected 0 to 65535"
	}
	if host == "localhost" {
		return ""
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return ""
	}
	return "is not a loopback address; the embedded broker accepts every client without authentication, so it listens on 127.0.0.1, ::1 or localhost only"
}

// name reads an optional or required name field ([A-Za-z0-9_-]+).
func (d *decoder) name(o *object, key, what string, required bool, def string) string {
	field := yamldoc.Join(o.field, key)
	var s string
	var at yamldoc.Pos
	var ok bool
	if required {
		s, at, ok = d.requiredStr(o, key, what)
	} else {
		var st fieldState
		s, at, st = d.str(o, key, what)
		ok = st == present
	}
	switch {
	case !ok:
		return def
	case !namePattern.MatchString(s):
		d.Addf(at, field, "%q is not a valid name; expected letters, digits, '_' or '-'", s)
	case len(s) > maxNameLen:
		d.Addf(at, field, "%q is longer than %d characters", s, maxNameLen)
	}
	return s
}

// resolvePath makes p absolute against dir unless it already is.
func (d *decoder) resolvePath(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// checkFile reports a problem unless path is an existing regular file.
func (d *decoder) checkFile(at yamldoc.Pos, field, path string) { d.checkPath(at, field, path, false) }

// checkExecutable reports a problem unless path is an executable regular file.
func (d *decoder) checkExecutable(at yamldoc.Pos, field, path string) {
	d.checkPath(at, field, path, true)
}

func (d *decoder) checkPath(at yamldoc.Pos, field, path string, executable bool) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.Addf(at, field, "%q does not exist", path)
	case err != nil:
		d.Addf(at, field, "%q cannot be read: %v", path, err)
	case !fi.Mode().IsRegular() && executable:
		d.Addf(at, field, "%q is not a regular file; expected an executable", path)
	case !fi.Mode().IsRegular():
		d.Addf(at, field, "%q is not a regular file", path)
	case executable && fi.Mode().Perm()&0o111 == 0:
		d.Addf(at, field, "%q is not executable (mode %v)", path, fi.Mode().Perm())
	}
}

// object is a mapping of the schema, with its keys checked.
type object struct {
	field string
	at    yamldoc.Pos // where its key is written: the place to report missing fields
	bad   bool        // not a mapping (already reported): report nothing missing in it
	vals  map[string]yamldoc.Entry
}

// object reads the value n (nil when absent) as a mapping allowed to hold
// only keys, reporting a problem for each other key.
func (d *decoder) object(n ast.Node, field string, at yamldoc.Pos, what string, keys ...string) *object {
	o := &object{field: field, at: at, vals: map[string]yamldoc.Entry{}}
	r, _ := d.Resolve(n, field)
	switch m := r.(type) {
	case nil:
		o.bad = n != nil
	case *ast.NullNode:
	case *ast.MappingNode:
		for _, e := range d.Entries(m, field) {
			if field == "" && strings.HasPrefix(e.Key, extensionPrefix) {
				continue // a place for anchors, like Compose's x- keys
			}
			if !slices.Contains(keys, e.Key) {
				d.Addf(e.At, yamldoc.Join(field, e.Key), "unknown key; expected one of %s", strings.Join(keys, ", "))
				continue
			}
			o.vals[e.Key] = e
		}
	default:
		o.bad = true
		if field == "" {
			d.Addf(yamldoc.PosOf(r), field, "the file holds %s; expected a mapping with keys %s", yamldoc.Describe(r), strings.Join(keys, ", "))
		} else {
			d.Addf(yamldoc.PosOf(r), field, "got %s; expected a mapping for %s", yamldoc.Describe(r), what)
		}
	}
	return o
}

func (o *object) get(key string) (yamldoc.Entry, bool) {
	e, ok := o.vals[key]
	return e, ok
}

// value returns the node of key, or nil when absent.
func (o *object) value(key string) ast.Node {
	return o.vals[key].Value
}

// keyPos returns where key is written, or where the object is when absent.
func (o *object) keyPos(key string) yamldoc.Pos {
	if e, ok := o.vals[key]; ok {
		return e.At
	}
	return o.at
}

// fieldState says what a field read found.
type fieldState int

const (
	absent  fieldState = iota // no such key
	null                      // the key with no value (or null)
	invalid                   // a value of the wrong type (already reported)
	present                   // a value of the right type
)

// str reads a string field; what describes the expected value for messages.
// at is where the value is written, or where the object is when absent.
func (d *decoder) str(o *object, key, what string) (s string, at yamldoc.Pos, st fieldState) {
	e, ok := o.get(key)
	if !ok {
		return "", o.at, absent
	}
	field := yamldoc.Join(o.field, key)
	at = yamldoc.PosOf(e.Value)
	r, isStr := d.Resolve(e.Value, field)
	if r == nil {
		return "", at, invalid
	}
	if _, isNull := r.(*ast.NullNode); isNull && !isStr {
		return "", at, null
	}
	s, ok = yamldoc.Text(r, isStr, false)
	if !ok {
		d.Addf(at, field, "got %s; expected %s", yamldoc.Describe(r), what)
		return "", at, invalid
	}
	return s, at, present
}

// requiredStr reads a required, non-empty string field, reporting a problem
// when it is missing or empty; ok says whether it holds a usable value.
func (d *decoder) requiredStr(o *object, key, what string) (s string, at yamldoc.Pos, ok bool) {
	field := yamldoc.Join(o.field, key)
	s, at, st := d.str(o, key, what)
	switch {
	case st == absent && o.bad:
	case st == absent || st == null:
		d.Addf(at, field, "missing: %s is required", what)
	case st == present && s == "":
		d.Addf(at, field, "empty: %s is required", what)
	case st == present:
		return s, at, true
	}
	return "", at, false
}
