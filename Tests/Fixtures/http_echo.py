"""A small HTTP/1.1 server for the worker's HTTPTransportTests, on 127.0.0.1.

Prints {"port": N} on its first line and serves until its stdin closes.

  GET|POST /echo             200, the request as JSON {"method", "headers" (lowercased names), "body"}, X-Echo: yes
  GET      /status/429       429 with Retry-After: 7 and an OpenAI-style error object
  GET      /delay?seconds=S  waits S seconds, then 200 "late"
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        pass

    def reply(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if split.path == "/echo":
            echo = {
                "method": self.command,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
            self.reply(200, json.dumps(echo).encode(), [("X-Echo", "yes")])
        elif split.path == "/status/429":
            self.reply(429, b'{"error":{"message":"slow down"}}', [("Retry-After", "7")])
        elif split.path == "/delay":
            time.sleep(float(parse_qs(split.query).get("seconds", ["0"])[0]))
            try:
                self.reply(200, b'"late"')
            except OSError:
                pass  # the client gave up
        else:
            self.reply(404, b"{}")

    do_GET = do_POST = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
print(json.dumps({"port": server.server_address[1]}), flush=True)
sys.stdin.read()
