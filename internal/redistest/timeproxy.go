package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TimeProxy is a TCP proxy in front of a real redis-server that rewrites
// the replies to the TIME command, as a Redis with a wrong clock (or
// anything answering for one) would send them. Everything else passes
// unchanged, in both directions; a script that reads TIME inside Lua
// reads the real server's clock.
type TimeProxy struct {
	// Addr is the proxy's "127.0.0.1:port" address.
	Addr string

	ln      net.Listener
	backend string
	shift   atomic.Pointer[func(n int) time.Duration]
	answers atomic.Int64 // TIME replies rewritten so far
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// StartTimeProxy listens on a free loopback port and forwards to backend.
// Until SetShift is called TIME answers are passed unchanged. The proxy
// stops when the test ends.
func StartTimeProxy(t testing.TB, backend string) *TimeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: time proxy: %v", err)
	}
	p := &TimeProxy{Addr: ln.Addr().String(), ln: ln, backend: backend, conns: map[net.Conn]struct{}{}}
	p.SetShift(func(int) time.Duration { return 0 })
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// SetShift decides each TIME answer from now on: the n-th rewritten reply
// (counting from 0 over the proxy's life) is the real time plus shift(n).
func (p *TimeProxy) SetShift(shift func(n int) time.Duration) { p.shift.Store(&shift) }

// Shift sets a constant shift.
func (p *TimeProxy) Shift(d time.Duration) { p.SetShift(func(int) time.Duration { return d }) }

// Answers is how many TIME replies went through the proxy.
func (p *TimeProxy) Answers() int { return int(p.answers.Load()) }

// Close stops accepting, closes every connection and waits for the
// forwarding goroutines.
func (p *TimeProxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track adds (or removes) a connection to close on Close; it refuses,
// and closes c, once the proxy is closed.
func (p *TimeProxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.conns, c)
		return true
	}
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *TimeProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = client.Close()
			continue
		}
		if !p.track(client, true) || !p.track(server, true) {
			_ = client.Close()
			_ = server.Close()
			return
		}
		// The commands a connection sent, in order, so that each reply is
		// matched with its command (go-redis pipelines).
		pending := make(chan string, 4096)
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			p.forwardCommands(client, server, pending)
		}()
		go func() {
			defer p.wg.Done()
			p.forwardReplies(server, client, pending)
		}()
	}
}

// forwardCommands copies the client's commands to the server, noting each
// command's name.
func (p *TimeProxy) forwardCommands(client, server net.Conn, pending chan<- string) {
	defer func() {
		close(pending)
		_ = server.Close()
		_ = client.Close()
		p.track(client, false)
	}()
	r := bufio.NewReader(client)
	for {
		raw, name, err := readCommand(r)
		if err != nil {
			return
		}
		pending <- name
		if _, err := server.Write(raw); err != nil {
			return
		}
	}
}

// forwardReplies copies the server's replies to the client, rewriting the
// reply to each TIME.
func (p *TimeProxy) forwardReplies(server, client net.Conn, pending <-chan string) {
	defer func() {
		_ = client.Close()
		_ = server.Close()
		p.track(server, false)
	}()
	r := bufio.NewReader(server)
	for {
		raw, err := readValue(r, nil)
		if err != nil {
			return
		}
		if isPush(raw) {
			if _, err := client.Write(raw); err != nil {
				return
			}
			continue
		}
		name, ok := <-pending
		if !ok {
			return
		}
		if name == "TIME" {
			raw = p.rewriteTime(raw)
		}
		if _, err := client.Write(raw); err != nil {
			return
		}
	}
}

// rewriteTime shifts a TIME reply (*2 of seconds and microseconds).
func (p *TimeProxy) rewriteTime(raw []byte) []byte {
	parts := strings.Split(string(raw), "\r\n")
	// "*2", "$n", seconds, "$m", micros, ""
	if len(parts) != 6 || parts[0] != "*2" {
		return raw
	}
	sec, err1 := strconv.ParseInt(parts[2], 10, 64)
	usec, err2 := strconv.ParseInt(parts[4], 10, 64)
	if err1 != nil || err2 != nil {
		return raw
	}
	n := int(p.answers.Add(1) - 1)
	shift := (*p.shift.Load())(n)
	t := time.Unix(sec, usec*1000).Add(shift)
	s, us := strconv.FormatInt(t.Unix(), 10), strconv.Itoa(t.Nanosecond()/1000)
	return fmt.Appendf(nil, "*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(s), s, len(us), us)
}

func isPush(raw []byte) bool { return len(raw) > 0 && raw[0] == '>' }

// readCommand reads one command (a RESP array of bulk strings, as every
// client library sends) and returns its bytes and upper-cased name.
func readCommand(r *bufio.Reader) ([]byte, string, error) {
	var first []byte
	raw, err := readValue(r, &first)
	if err != nil {
		return nil, "", err
	}
	return raw, strings.ToUpper(string(first)), nil
}

// readValue reads one RESP2 or RESP3 value whole. When first is not nil it
// receives the first bulk string of an array (a command's name).
func readValue(r *bufio.Reader, first *[]byte) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, errors.New("redistest: malformed RESP line")
	}
	out := line
	body := string(line[1 : len(line)-2])
	switch line[0] {
	case '+', '-', ':', ',', '#', '(', '_':
		return out, nil
	case '$', '!', '=':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return out, nil
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, err
		}
		return append(out, data...), nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			v, err := readValue(r, nil)
			if err != nil {
				return nil, err
			}
			if i == 0 && first != nil && len(v) > 0 && v[0] == '$' {
				_, rest, _ := strings.Cut(string(v), "\r\n")
				*first = []byte(strings.TrimSuffix(rest, "\r\n"))
			}
			out = append(out, v...)
		}
		if line[0] == '|' {
			// An attribute precedes the reply it describes.
			v, err := readValue(r, nil)
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("redistest: unknown RESP type %q", line[0])
}
