package emsapi

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServerOptions bound what clients of the REST API can hold on the edge:
// a client that sends its request slowly, or opens connections and stays
// silent, is cut off after the timeouts, and no client or address can hold
// more than its share of connections (so of file descriptors, which the
// edge needs for its broker and its Modbus devices). Zero values take the
// defaults below.
type ServerOptions struct {
	TLS *tls.Config // nil: plain HTTP

	MaxConns      int // connections served at once; more wait in the kernel's backlog. Default 64
	MaxConnsPerIP int // connections one remote address may hold; more are closed at once. Default 16

	ReadHeaderTimeout time.Duration // default 5 s
	ReadTimeout       time.Duration // the whole request, body included; default 10 s
	WriteTimeout      time.Duration // default 30 s (GET /metrics of a large site)
	IdleTimeout       time.Duration // keep-alive; default 60 s
	MaxHeaderBytes    int           // default 16 KiB

	Logger *slog.Logger // nil discards
}

// Defaults of ServerOptions.
const (
	DefaultMaxConns          = 64
	DefaultMaxConnsPerIP     = 16
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
)

func (o *ServerOptions) defaults() {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	set(&o.ReadTimeout, DefaultReadTimeout)
	set(&o.WriteTimeout, DefaultWriteTimeout)
	set(&o.IdleTimeout, DefaultIdleTimeout)
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxConnsPerIP <= 0 {
		o.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Serve serves h on ln with o's limits until ctx ends, then shuts down
// gracefully (at most 5 s) and returns ctx's error; or it returns the error
// that stopped the server. It closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, o ServerOptions) error {
	o.defaults()
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         o.TLS,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	lim := LimitListener(ln, o.MaxConns, o.MaxConnsPerIP)
	errc := make(chan error, 1)
	go func() {
		if o.TLS != nil {
			errc <- srv.ServeTLS(lim, "", "")
			return
		}
		errc <- srv.Serve(lim)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc // http.ErrServerClosed
	return ctx.Err()
}

// LimitListener returns a listener that serves at most total connections
// at once (Accept waits for a slot, so waiting clients sit in the kernel's
// backlog and cost the process nothing) and at most perIP from one remote
// address (more are closed as soon as they are accepted). It is
// golang.org/x/net/netutil.LimitListener with a per-address cap.
func LimitListener(l net.Listener, total, perIP int) *Limited {
	return &Limited{Listener: l, sem: make(chan struct{}, total), perIP: perIP, byIP: map[string]int{}, done: make(chan struct{})}
}

// Limited is the listener LimitListener returns.
type Limited struct {
	net.Listener
	sem   chan struct{} // one token per open connection
	perIP int

	mu      sync.Mutex // protects the fields below
	byIP    map[string]int
	refused uint64
	closed  bool
	done    chan struct{} // closed by Close
}

// Accept waits for a free slot, then for a connection from an address
// below its cap.
func (l *Limited) Accept() (net.Conn, error) {
	for {
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		if l.byIP[ip] >= l.perIP {
			l.refused++
			l.mu.Unlock()
			c.Close()
			<-l.sem
			continue
		}
		l.byIP[ip]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, l: l, ip: ip}, nil
	}
}

// Close closes the listener and wakes a waiting Accept.
func (l *Limited) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

// Open returns the number of connections held now.
func (l *Limited) Open() int { return len(l.sem) }

// Refused returns how many connections were closed for their address's cap.
func (l *Limited) Refused() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

func (l *Limited) release(ip string) {
	l.mu.Lock()
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.mu.Unlock()
	<-l.sem
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

type limitedConn struct {
	net.Conn
	l    *Limited
	ip   string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// IsLoopback reports whether a listen address (host:port) only accepts
// connections from this machine. An empty host, 0.0.0.0 and [::] listen
// everywhere.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
