package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
)

// JSONErrorListener wraps ln so that the plain-text answers net/http
// writes itself, before any handler runs (400 for a malformed request
// line or header, 431 for headers over MaxHeaderBytes, 501 for an
// unsupported transfer encoding), reach the client as JSON errors like
// every other answer of the service. The body has both API shapes:
// {"detail": ...} for /chat and {"error": {...}} for /v1 (the path is
// unknown when the header could not be read).
func JSONErrorListener(ln net.Listener) net.Listener { return jsonErrorListener{ln} }

type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c}, nil
}

// jsonErrorConn rewrites net/http's canned error answer, which it writes
// straight to the connection in one Write:
// "HTTP/1.1 <code> <text>" + plainErrorHeaders + body.
type jsonErrorConn struct{ net.Conn }

const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *jsonErrorConn) Write(b []byte) (int, error) {
	if !bytes.HasPrefix(b, []byte("HTTP/1.1 ")) {
		return c.Conn.Write(b)
	}
	status, body, ok := bytes.Cut(b, []byte(plainErrorHeaders))
	if !ok || bytes.IndexByte(status, '\n') >= 0 {
		return c.Conn.Write(b) // a handler's answer, not the canned one
	}
	if _, err := c.Conn.Write(jsonError(status, body)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// CloseWrite keeps net/http's graceful close of a failed connection.
func (c *jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func jsonError(statusLine, text []byte) []byte {
	code, _, _ := bytes.Cut(bytes.TrimPrefix(statusLine, []byte("HTTP/1.1 ")), []byte(" "))
	n, _ := strconv.Atoi(string(code))
	typ := "invalid_request_error"
	if n >= 500 {
		typ = "server_error"
	}
	msg := string(text)
	body, _ := json.Marshal(map[string]any{"detail": msg, "error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
	line, _, _ := bytes.Cut(statusLine, []byte(":")) // "HTTP/1.1 400 Bad Request"
	return fmt.Appendf(nil, "%s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", line, len(body), body)
}
