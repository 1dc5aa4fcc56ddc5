"""A local HTTP server on 127.0.0.1 for the `tags update` tests: pages, files, and broken answers.

Routes map a path to bytes and a behaviour: ``ok``; ``truncated`` (announces the whole length,
sends half, closes); ``slow`` (sends a little, then trickles until the client gives up or 3 s
pass); ``status:N``. Requests with an absolute URI (a client using it as its HTTP proxy) are
recorded in ``proxied`` and served by their path; ``CONNECT`` (an HTTPS proxy tunnel) is recorded
and refused with 403. Nothing leaves the machine.
"""
from __future__ import annotations

import http.server
import threading
import time
import urllib.parse
from typing import Any


class TagServer:
    def __init__(self) -> None:
        self.routes: dict[str, tuple[str, bytes, dict[str, str]]] = {}
        self.proxied: list[str] = []
        self.connects: list[str] = []
        self.requests: list[str] = []
        self.stopping = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_CONNECT(self) -> None:  # noqa: N802
                server.connects.append(self.path)
                self.send_response(403, "Forbidden by the test proxy")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                target = self.path
                if target.startswith("http://") or target.startswith("https://"):
                    server.proxied.append(target)
                    parts = urllib.parse.urlsplit(target)
                    target = parts.path + (f"?{parts.query}" if parts.query else "")
                server.requests.append(target)
                route = server.routes.get(target)
                if route is None:
                    self._send(404, b"not found", {})
                    return
                behaviour, body, headers = route
                if behaviour.startswith("status:"):
                    self._send(int(behaviour.split(":")[1]), body, headers)
                elif behaviour == "truncated":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif behaviour == "slow":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:1024])
                    self.wfile.flush()
                    sent, start = 1024, time.monotonic()
                    try:
                        while sent < len(body) and time.monotonic() - start < 3 and not server.stopping.is_set():
                            time.sleep(0.05)
                            self.wfile.write(body[sent:sent + 16])
                            self.wfile.flush()
                            sent += 16
                    except OSError:
                        pass
                    self.close_connection = True
                else:
                    self._send(200, body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, body: bytes, behaviour: str = "ok", **headers: str) -> str:
        self.routes[path] = (behaviour, body, {k.replace("_", "-"): v for k, v in headers.items()})
        return self.url(path)

    def __enter__(self) -> "TagServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
