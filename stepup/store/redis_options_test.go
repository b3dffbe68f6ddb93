package store

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

func TestIdentityNeverContainsPasswords(t *testing.T) {
	const secret = "hunter2-very-secret"
	for name, o := range map[string]RedisOptions{
		"password":          {Addrs: []string{"a:1"}, Password: secret},
		"sentinel password": {Addrs: []string{"a:1"}, MasterName: "m", SentinelPassword: secret},
		"url password":      {URL: "redis://user:" + secret + "@a:1/2"},
		"url query":         {URL: "redis://a:1/2?password=" + secret + "&pool_size=3"},
		"invalid url":       {URL: "redis://user:" + secret + "@a:port:x/%zz"},
	} {
		t.Run(name, func(t *testing.T) {
			if id := o.Identity(); strings.Contains(id, secret) {
				t.Fatalf("Identity leaks the password: %s", id)
			}
		})
	}
}

func TestIdentityIsStableAndDistinguishesConnections(t *testing.T) {
	base := RedisOptions{Addrs: []string{"b:2", "a:1"}, Cluster: true, Username: "u", Password: "p"}
	same := RedisOptions{Addrs: []string{"a:1", "b:2"}, Cluster: true, Username: "u", Password: "p"}
	if base.Identity() != same.Identity() {
		t.Fatalf("address order changed the identity:\n%s\n%s", base.Identity(), same.Identity())
	}
	first := base.Identity()
	if again := base.Identity(); again != first {
		t.Fatalf("Identity is not stable:\n%s\n%s", first, again)
	}
	changes := map[string]func(*RedisOptions){
		"addr":     func(o *RedisOptions) { o.Addrs = []string{"a:1", "c:3"} },
		"cluster":  func(o *RedisOptions) { o.Cluster = false },
		"master":   func(o *RedisOptions) { o.Cluster = false; o.MasterName = "m" },
		"username": func(o *RedisOptions) { o.Username = "v" },
		"password": func(o *RedisOptions) { o.Password = "q" },
		"db":       func(o *RedisOptions) { o.DB = 1 },
		"tls":      func(o *RedisOptions) { o.TLS = &tls.Config{} },
		"timeout":  func(o *RedisOptions) { o.Timeout = time.Second },
		"pool":     func(o *RedisOptions) { o.PoolSize = 7 },
		"url":      func(o *RedisOptions) { o.Addrs = nil; o.Cluster = false; o.URL = "redis://a:1" },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			o := base
			o.Addrs = append([]string(nil), base.Addrs...)
			change(&o)
			if o.Identity() == base.Identity() {
				t.Fatalf("changing %s kept the identity %s", name, o.Identity())
			}
		})
	}
}

func TestDialRedisRejectsBadOptions(t *testing.T) {
	const secret = "s3cret-in-url"
	for name, o := range map[string]RedisOptions{
		"nothing":               {},
		"addrs and url":         {Addrs: []string{"a:1"}, URL: "redis://a:1"},
		"url with cluster":      {URL: "redis://a:1", Cluster: true},
		"url with master":       {URL: "redis://a:1", MasterName: "m"},
		"cluster and master":    {Addrs: []string{"a:1"}, Cluster: true, MasterName: "m"},
		"cluster db":            {Addrs: []string{"a:1"}, Cluster: true, DB: 1},
		"several without mode":  {Addrs: []string{"a:1", "b:2"}},
		"empty addr":            {Addrs: []string{""}},
		"negative timeout":      {Addrs: []string{"a:1"}, Timeout: -time.Second},
		"negative db":           {Addrs: []string{"a:1"}, DB: -1},
		"negative pool":         {Addrs: []string{"a:1"}, PoolSize: -1},
		"unix url":              {URL: "unix:///tmp/redis.sock"},
		"bad url with password": {URL: "redis://user:" + secret + "@a:notaport/0"},
		"bad db with password":  {URL: "redis://user:" + secret + "@a:1/notadb"},
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := DialRedis(o)
			if err == nil {
				_ = conn.Close()
				t.Fatal("DialRedis accepted the options")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestDialRedisAcceptsEveryMode(t *testing.T) {
	for name, o := range map[string]RedisOptions{
		"standalone": {Addrs: []string{"127.0.0.1:1"}},
		"url":        {URL: "rediss://u:p@127.0.0.1:1/2"},
		"cluster":    {Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, Cluster: true},
		"sentinel":   {Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, MasterName: "m"},
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := DialRedis(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := conn.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
