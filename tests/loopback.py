"""A tiny HTTP server on 127.0.0.1 (a thread in the test process) for download tests: nothing leaves the machine.

`serving(routes)` serves each path's bytes; a route may instead be an int (answer with that HTTP
status) or `("cut", body)` (promise the whole body, send half of it, hang up).
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from contextlib import contextmanager


@contextmanager
def serving(routes: dict):
    """Serve `routes` ({"/path": bytes | status | ("cut", bytes)}); yields the base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 10  # a stuck client cannot hold the thread forever

        def do_GET(self):
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            if isinstance(body, int):
                self.send_error(body, "Internal Server Error" if body == 500 else None)
                return
            cut = isinstance(body, tuple)
            data = body[1] if cut else body
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2] if cut else data)
            self.wfile.flush()
            if cut:
                self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def md5(data: bytes) -> str:
    """`"md5:<hex>"` of `data`, as `cfnb.movielens(..., checksum=...)` takes it."""
    return "md5:" + hashlib.md5(data).hexdigest()
