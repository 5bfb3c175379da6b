"""The contract imitation behind a real socket on 127.0.0.1, for tests across processes.

``serve(api)`` answers every request with ``api.handle`` (one at a time, as
the imitation is not thread-safe) on a free port and stops by itself when the
``with`` block ends. ``hold_creates`` makes a create wait, after it was bought,
until the event is set: the moment to interrupt or kill a client whose create
is in flight.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.contract_api import BASE, ContractAPI


@contextlib.contextmanager
def serve(api: ContractAPI, *, hold_creates: threading.Event | None = None) -> Iterator[str]:
    lock = threading.Lock()
    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = [(k, v) for k, v in self.headers.items() if k.lower() != "host"]
            request = httpx.Request(self.command, BASE + self.path, headers=headers, content=body)
            with lock:
                response = api.handle(request)
                content = response.read()
            if self.command == "POST" and hold_creates is not None:
                # Bought; the answer waits (a client interrupted now never learns the id).
                while not (hold_creates.wait(0.05) or stopping.is_set()):
                    pass
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "content-encoding", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(content)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
