"""A stand-in remote service for the sample apps that call one over HTTP (inventory, rates).

`remote_service(...)` starts a small `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free
port) that answers every GET after a short delay with a JSON body, yields its base URL, and
stops it on exit: an app's lifespan wraps its `yield` in it.

The server runs in a child process, as a real remote service would, not in a thread of the
app: perfaudit's profiler sees every thread of the app's process (all of them on Python
3.12+, each new one on 3.11), so a stub in a thread put its own `time.sleep` at ~65% of the
profiled request time and made it the top hotspot. The child also exits when its parent
goes away (its stdin closes), so a killed run leaves nothing behind.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

START_TIMEOUT_S = 10.0


@contextmanager
def remote_service(*, delay_s: float, body: str) -> Iterator[str]:
    """Run the stand-in service; `{id}` in `body` becomes the request path's last segment."""
    child = subprocess.Popen(
        [sys.executable, "-I", __file__, str(delay_s), body],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        port = child.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError("the stand-in remote service did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        child.stdin.close()  # the child's cue to stop
        try:
            child.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()


def _handler(delay_s: float, body: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delay_s)
            key = "".join(c for c in self.path.rsplit("/", 1)[-1] if c.isalnum())
            payload = body.replace("{id}", key).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of more new connections than
    # that (8 requests in flight over one shared client) overflows it, and the dropped
    # SYNs are retried a whole second later, a stall no real service would add.
    request_queue_size = 128


def _serve(delay_s: float, body: str) -> None:
    server = _Server(("127.0.0.1", 0), _handler(delay_s, body))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # returns when the parent closes our stdin, or exits
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    _serve(float(sys.argv[1]), sys.argv[2])
