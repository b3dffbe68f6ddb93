package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// Real request parsers as the legacy upstreams of the one-credential test:
// PHP 8.2 (`php -S`, Debian's php-cli), Rack 2.2 on WEBrick (Debian's
// ruby-rack and ruby-webrick), Go's net/http, and express with multer
// (tests/parsers, from npm). Each reports, as JSON arrays, the top-level
// names its parsing produced (tests/parsers/README.md). Each sits behind a
// TCP recorder, so that the test sees the exact bytes the gateway sent.

// requireParsersEnv turns a missing parser into a failure instead of a
// skip (test.sh sets it; .ci/run installs them).
const requireParsersEnv = "STEPUP_REQUIRE_PARSERS"

// requireParsers skips the test, or fails it under STEPUP_REQUIRE_PARSERS,
// unless php, rackup (with Rack and WEBrick), node and the npm packages of
// tests/parsers are all there. It returns the absolute path of tests/parsers.
func requireParsers(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("parsers")
	if err != nil {
		t.Fatal(err)
	}
	problem := ""
	switch {
	case lookPath("php") != nil:
		problem = "php is not installed (apt-get install php-cli)"
	case lookPath("rackup") != nil || exec.Command("ruby", "-e", `require "rack"; require "webrick"`).Run() != nil:
		problem = "Rack 2.2 on WEBrick is not installed (apt-get install ruby-rack ruby-webrick)"
	case lookPath("node") != nil:
		problem = "node is not on PATH"
	default:
		for _, pkg := range []string{"express", "multer"} {
			if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
				problem = "tests/parsers/node_modules is missing: run `npm ci` in tests/parsers"
			}
		}
	}
	if problem == "" {
		return dir
	}
	if os.Getenv(requireParsersEnv) != "" {
		t.Fatalf("real parsers: %s (and %s is set)", problem, requireParsersEnv)
	}
	t.Skipf("real parsers: %s (set %s to make this a failure)", problem, requireParsersEnv)
	return ""
}

func lookPath(name string) error {
	_, err := exec.LookPath(name)
	return err
}

// parserUpstream is one parser: its own address, and the recorder in front
// of it that the gateway proxies to.
type parserUpstream struct {
	name   string
	direct string // host:port of the parser itself
	rec    *recorder
}

// startParsers starts the four parsers, each behind a recorder.
func startParsers(t *testing.T, dir string) []*parserUpstream {
	t.Helper()
	php := testcaddy.FreePort(t)
	rack := testcaddy.FreePort(t)
	node := testcaddy.FreePort(t)
	startProcess(t, dir, fmt.Sprintf("127.0.0.1:%d", php), "php", "-S", fmt.Sprintf("127.0.0.1:%d", php), "report.php")
	startProcess(t, dir, fmt.Sprintf("127.0.0.1:%d", rack), "rackup", "-s", "webrick", "-E", "none", "-q", "-o", "127.0.0.1", "-p", fmt.Sprint(rack), "config.ru")
	startProcess(t, dir, fmt.Sprintf("127.0.0.1:%d", node), "node", "server.mjs", fmt.Sprint(node))
	goSrv := httptest.NewServer(http.HandlerFunc(goParser))
	t.Cleanup(goSrv.Close)
	var ps []*parserUpstream
	for _, p := range []struct{ name, addr string }{
		{"php", fmt.Sprintf("127.0.0.1:%d", php)},
		{"rack", fmt.Sprintf("127.0.0.1:%d", rack)},
		{"go", goSrv.Listener.Addr().String()},
		{"node", fmt.Sprintf("127.0.0.1:%d", node)},
	} {
		ps = append(ps, &parserUpstream{name: p.name, direct: p.addr, rec: newRecorder(t, p.addr)})
	}
	return ps
}

// startProcess runs a parser in dir until the test ends (stopped by its
// process ID) and waits until it answers HTTP at addr.
func startProcess(t *testing.T, dir, addr string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		stopByPID(cmd, exited)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, logs.String())
		}
	})
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := client.Get("http://" + addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s exited:\n%s", name, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer at %s:\n%s", name, addr, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// recorder is a TCP relay in front of a parser that keeps the bytes of
// each connection the gateway opened (one request each: the gateway's
// reverse_proxy runs with keepalive off).
type recorder struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*bytes.Buffer
}

func newRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go r.serve()
	return r
}

func (r *recorder) addr() string { return r.ln.Addr().String() }

func (r *recorder) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		buf := new(bytes.Buffer)
		r.mu.Lock()
		r.conns = append(r.conns, buf)
		r.mu.Unlock()
		go r.relay(c, buf)
	}
}

func (r *recorder) relay(c net.Conn, buf *bytes.Buffer) {
	defer c.Close()
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		_, _ = io.Copy(up, io.TeeReader(c, writerFunc(func(p []byte) (int, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			return buf.Write(p)
		})))
	}()
	// The parser's answer ends the exchange (some mark its end by closing).
	_, _ = io.Copy(c, up)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// hits is how many connections (requests) reached the parser.
func (r *recorder) hits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// last is the last request the parser received, with its body read whole.
func (r *recorder) last() (*http.Request, []byte, error) {
	r.mu.Lock()
	raw := bytes.Clone(r.conns[len(r.conns)-1].Bytes())
	r.mu.Unlock()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(req.Body)
	return req, body, err
}

// goParser is a legacy Go API: what ParseMultipartForm (and through it
// ParseForm and FormValue) finds, Request.MultipartReader's part names for
// multipart/mixed, and url.ParseQuery of a body without a Content-Type or
// of a form sent with a method ParseForm does not read.
func goParser(w http.ResponseWriter, r *http.Request) {
	report := map[string]any{"parser": "go " + runtime.Version()}
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	bodyMethod := r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH"
	switch {
	case mt == "multipart/mixed":
		parts := []string{}
		mr, err := r.MultipartReader()
		for err == nil {
			var p *multipart.Part
			if p, err = mr.NextPart(); err == nil {
				parts = append(parts, p.FormName())
			}
		}
		if !errors.Is(err, io.EOF) {
			report["error"] = err.Error()
		}
		report["parts"] = parts
	case ct == "" || (mt == "application/x-www-form-urlencoded" && !bodyMethod):
		raw, _ := io.ReadAll(r.Body)
		q, _ := url.ParseQuery(string(raw))
		report["body_query"] = sortedKeys(q)
	default:
		if err := r.ParseMultipartForm(32 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			report["error"] = err.Error()
		}
	}
	_ = r.ParseForm()
	_, _ = io.Copy(io.Discard, r.Body) // what no parser read: received whole, as by the others
	report["form"] = sortedKeys(r.Form)
	if r.MultipartForm != nil {
		report["multipart_values"] = sortedKeys(r.MultipartForm.Value)
		var files []string
		for k := range r.MultipartForm.File {
			files = append(files, k)
		}
		report["multipart_files"] = files
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(report)
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
