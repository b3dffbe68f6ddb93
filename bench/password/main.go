// Command password benchmarks password login the way the Prelude SDK does
// it: POST /login/email/password, then /login/finalize with a DPoP proof
// (and the nonce dance). Users are first signed up (sign-up, finalize, the
// code from the OTP webhook, /login/otp/check); then every user logs in
// with its password, -c at a time, and wrong passwords are tried the same
// way. Each login and each wrong attempt costs one argon2id verification
// on the gateway: the numbers are that cost seen through HTTP. It prints a
// Markdown section for run-session.sh's report.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-stepup/caddy-stepup/bench/internal/benchkit"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

type config struct {
	gateway, inboxAddr, params string
	users, concurrency, pid    int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.gateway, "gateway", "", "the gateway's origin, e.g. http://127.0.0.1:8080")
	flag.StringVar(&cfg.inboxAddr, "inbox", "", "listen address of the OTP webhook the gateway sends codes to (/send)")
	flag.StringVar(&cfg.params, "params", "argon2id 1 46MiB 1", "the gateway's argon2id setting, for the report")
	flag.IntVar(&cfg.users, "users", 200, "users signed up, each logging in once")
	flag.IntVar(&cfg.concurrency, "c", 8, "requests in flight")
	flag.IntVar(&cfg.pid, "pid", 0, "the gateway's process ID, to report its CPU time per login")
	flag.Parse()
	if cfg.gateway == "" || cfg.inboxAddr == "" {
		log.Fatal("password: -gateway and -inbox are required")
	}
	if err := run(cfg); err != nil {
		log.Fatalf("password: %v", err)
	}
}

const passwordOf = "bench password 0" // and the user's number

func email(run int64, i int) string { return fmt.Sprintf("bench-%d-%d@example.com", run, i) }

func run(cfg config) error {
	in, err := benchkit.ServeInbox(cfg.inboxAddr, nil)
	if err != nil {
		return err
	}
	client, tr := benchkit.NewTimedClient()
	if err := benchkit.WaitFor(cfg.gateway + "/.well-known/jwks.json"); err != nil {
		return err
	}
	runID := time.Now().UnixNano() / 1000 % 100000
	newClient := func() *sessionclient.Client {
		c := sessionclient.New(cfg.gateway)
		c.HTTP = client
		return c
	}
	phase := func(ops int, op func(i int) error) (benchkit.Measured, *benchkit.Recorder, int, string, error) {
		rec := benchkit.NewRecorder()
		m, err := benchkit.StartMeter(context.Background(), tr, rec, cfg.pid, nil)
		if err != nil {
			return benchkit.Measured{}, nil, 0, "", err
		}
		var mu sync.Mutex
		failures, first := 0, ""
		benchkit.Parallel(ops, cfg.concurrency, func(i int) {
			if err := op(i); err != nil {
				mu.Lock()
				failures++
				if first == "" {
					first = err.Error()
				}
				mu.Unlock()
			}
		})
		measured, err := m.Stop(ops)
		return measured, rec, failures, first, err
	}
	want := func(resp *sessionclient.Response, err error, status int) error {
		if err != nil {
			return err
		}
		if resp.Status != status {
			return fmt.Errorf("%d: %s", resp.Status, resp.Error())
		}
		return nil
	}

	signUp, signUpRec, signUpFailures, signUpFirst, err := phase(cfg.users, func(i int) error {
		c := newClient()
		addr := email(runID, i)
		resp, err := c.SignUp(addr, fmt.Sprintf("%s%d", passwordOf, i))
		if err := want(resp, err, http.StatusOK); err != nil {
			return err
		}
		resp, err = c.Finalize(resp.String("challenge_token"), "")
		if err := want(resp, err, http.StatusOK); err != nil {
			return err
		}
		resp, err = c.CheckLogin(in.Code(addr))
		return want(resp, err, http.StatusOK)
	})
	if err != nil {
		return err
	}
	login, loginRec, loginFailures, loginFirst, err := phase(cfg.users, func(i int) error {
		c := newClient()
		resp, err := c.PasswordLogin(email(runID, i), fmt.Sprintf("%s%d", passwordOf, i))
		if err := want(resp, err, http.StatusOK); err != nil {
			return err
		}
		resp, err = c.Finalize(resp.String("challenge_token"), "")
		return want(resp, err, http.StatusOK)
	})
	if err != nil {
		return err
	}
	// One client (this process, one IP) guessing: the first ones are
	// compared (401), then the client's failure delay refuses (429).
	var compared, delayed atomic.Int64
	wrong, wrongRec, wrongFailures, wrongFirst, err := phase(cfg.users, func(i int) error {
		resp, err := newClient().PasswordLogin(email(runID, i), "not the password")
		if err == nil && resp.Status == http.StatusTooManyRequests {
			delayed.Add(1)
			return nil
		}
		if err := want(resp, err, http.StatusUnauthorized); err != nil {
			return err
		}
		compared.Add(1)
		return nil
	})
	if err != nil {
		return err
	}

	w := os.Stdout
	fmt.Fprintf(w, "#### Password logins (memory store, `%s`)\n\n", cfg.params)
	fmt.Fprintf(w, "%d users, %d requests in flight. Each sign-up hashes once, each login and each wrong attempt verifies once.\n\n", cfg.users, cfg.concurrency)
	fmt.Fprintln(w, "| phase | per second | gateway CPU ms each | failures |")
	fmt.Fprintln(w, "| --- | ---: | ---: | --- |")
	row := func(name string, m benchkit.Measured, failures int, first string) {
		cpu := "n/a"
		if cfg.pid != 0 {
			cpu = fmt.Sprintf("%.1f", m.CPU.Seconds()*1000/float64(cfg.users))
		}
		fmt.Fprintf(w, "| %s | %.1f | %s | %s |\n", name, float64(cfg.users)/m.Wall.Seconds(), cpu, benchkit.Failures(failures, first))
	}
	row("sign-up (sign-up, finalize, code check)", signUp, signUpFailures, signUpFirst)
	row("**password login** (password, finalize)", login, loginFailures, loginFirst)
	row(fmt.Sprintf("wrong password from one client: %d compared (401), %d refused by its failure delay (429)", compared.Load(), delayed.Load()),
		wrong, wrongFailures, wrongFirst)
	fmt.Fprintln(w)
	benchkit.WriteLatencyHeader(w)
	benchkit.WriteLatencyRows(w, "sign-up", signUpRec)
	benchkit.WriteLatencyRows(w, "password login", loginRec)
	benchkit.WriteLatencyRows(w, "wrong password", wrongRec)
	fmt.Fprintln(w)
	return nil
}
