#!/usr/bin/env python3
"""Fault-injecting HTTP server for the template store tests (127.0.0.1 only).

Serves files under --root. Each path can be given a queue of behaviours that
the next requests consume, one per request, before normal service resumes:

  POST /_ctl/script  {"path": "/a.tar", "faults": ["cut:1000", "status:503", ...]}
  GET  /_ctl/count   {"total": N, "paths": {"/a.tar": n}}   (requests to files)
  POST /_ctl/reset   clears scripts and counters

Faults: cut:N (send N body bytes of a full response, then close), status:CODE
(with optional :retry=S for Retry-After), redirect:/path, lie_long:K (claim K
bytes more than sent), lie_short:K (claim K fewer than sent, send all),
trickle:N:SECONDS (N bytes, then one byte per SECONDS), pause:N:SECONDS (all
but the last N bytes, a pause, then those), slow:SECONDS (wait, then serve),
ignore_range, ok. /_ctl/count also lists each path's Range
headers and the most requests ever in flight at once.
Normal service honours Range. Prints the port on stdout (or --port-file) once listening.
"""
import argparse
import json
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
scripts = {}
counts = {}
ranges = {}
total = [0]
inflight = [0, 0]  # now, most ever


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle(self):
        try:
            super().handle()
        except ConnectionResetError:
            pass  # a client that went away (a test's pull killed or finished): nothing to serve

    def log_message(self, fmt, *args):
        if os.environ.get("HTTPD_FAULTS_LOG"):
            sys.stderr.write("httpd: " + fmt % args + "\n")

    def reply_json(self, obj, code=200):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = json.loads(self.rfile.read(n) or b"{}")
        with lock:
            if self.path == "/_ctl/script":
                scripts[data["path"]] = list(data["faults"])
            elif self.path == "/_ctl/reset":
                scripts.clear()
                counts.clear()
                ranges.clear()
                total[0] = 0
                inflight[1] = 0
            else:
                return self.reply_json({"error": "unknown"}, 404)
        self.reply_json({"ok": True})

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        if self.path == "/_ctl/count":
            with lock:
                return self.reply_json(
                    {"total": total[0], "paths": dict(counts), "ranges": dict(ranges),
                     "max_inflight": inflight[1]})
        self.serve(head=False)

    def plain(self, code, extra=None):
        body = ("%d\n" % code).encode()
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def serve(self, head):
        with lock:
            inflight[0] += 1
            inflight[1] = max(inflight[1], inflight[0])
        try:
            self.serve_counted(head)
        finally:
            with lock:
                inflight[0] -= 1

    def serve_counted(self, head):
        path = self.path.split("?", 1)[0]
        with lock:
            total[0] += 1
            counts[path] = counts.get(path, 0) + 1
            ranges.setdefault(path, []).append(self.headers.get("Range") or "")
            queue = scripts.get(path)
            fault = queue.pop(0) if queue else "ok"
        kind, _, arg = fault.partition(":")
        if kind == "slow":
            time.sleep(float(arg))
        if kind == "status":
            code, _, opt = arg.partition(":")
            extra = {}
            if opt.startswith("retry="):
                extra["Retry-After"] = opt[6:]
            return self.plain(int(code), extra)
        if kind == "redirect":
            self.send_response(302)
            self.send_header("Location", arg)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        fpath = os.path.join(self.server.root, path.lstrip("/"))
        if not os.path.isfile(fpath):
            return self.plain(404)
        with open(fpath, "rb") as f:
            data = f.read()
        start = 0
        rng = self.headers.get("Range")
        m = re.match(r"bytes=(\d+)-$", rng or "")
        if m and kind != "ignore_range":
            start = int(m.group(1))
            if start >= len(data) and len(data) > 0:
                return self.plain(416, {"Content-Range": "bytes */%d" % len(data)})
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        body = data[start:]
        claimed = len(body)
        if kind == "lie_long":
            claimed += int(arg)
        elif kind == "lie_short":
            claimed = max(0, claimed - int(arg))
        self.send_header("Content-Length", str(claimed))
        self.send_header("Accept-Ranges", "bytes")
        if kind in ("cut", "lie_long", "lie_short", "trickle", "pause"):
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        try:
            if kind == "cut":
                self.wfile.write(body[: int(arg)])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            elif kind == "trickle":
                n, _, delay = arg.partition(":")
                n = int(n)
                self.wfile.write(body[:n])
                self.wfile.flush()
                for i in range(n, len(body)):
                    time.sleep(float(delay))
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
            elif kind == "pause":
                n, _, delay = arg.partition(":")
                split = max(0, len(body) - int(n))
                self.wfile.write(body[:split])
                self.wfile.flush()
                time.sleep(float(delay))
                self.wfile.write(body[split:])
                self.wfile.flush()
            elif kind == "lie_long":
                self.wfile.write(body)
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            else:
                self.wfile.write(body)
                if kind == "lie_short":
                    self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the port here (atomically) instead of stdout")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.root = a.root
    if a.tls:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*a.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(a.port_file + ".tmp", a.port_file)
    else:
        print(port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
