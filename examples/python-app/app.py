"""The slides' app: a tiny web server from Python's standard library (http.server).

It answers every GET with one line that says where it runs. The port is
$PORT (default 80, the port the slides publish as -p 8081:80).
"""

import os
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from my-python-app on {socket.gethostname()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):  # one line a request, on stdout (docker logs shows it)
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "80"))
    print(f"serving on port {port}", flush=True)
    HTTPServer(("", port), Hello).serve_forever()
