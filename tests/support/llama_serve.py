"""Serve a GGUF model with llama.cpp's own server (the prebuilt ``xllamacpp`` wheel).

    python tests/support/llama_serve.py MODEL ALIAS PORT SEED N_CTX

llama.cpp's C++ HTTP server runs in this process on a private port. In front of it, on ``PORT``,
a small pass-through proxy logs one line per request (``"POST /v1/chat/completions HTTP/1.1"
200``), since llama.cpp's own log has no access lines; the tests count requests from it. Status,
headers and body pass through unchanged. Prints ``ready`` once both listen.
"""

from __future__ import annotations

import http.client
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import xllamacpp

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def start_llama(model: str, alias: str, seed: int, n_ctx: int) -> xllamacpp.Server:
    """Start llama.cpp's server on a free loopback port (``listening_address``)."""
    params = xllamacpp.CommonParams()
    params.model.path = model
    params.model_alias = {alias}
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.sampling.seed = seed
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    return xllamacpp.Server(params)


def proxy_handler(upstream: tuple[str, int]) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            connection = http.client.HTTPConnection(*upstream, timeout=120)
            connection.request(self.command, self.path, body=body, headers=headers)
            reply = connection.getresponse()
            data = reply.read()
            print(f'"{self.command} {self.path} HTTP/1.1" {reply.status}', flush=True)
            self.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        do_GET = do_POST = forward

        def log_message(self, format: str, *args: object) -> None:
            """The request line is printed by :meth:`forward`, with the upstream status."""

    return Proxy


def main() -> None:
    model, alias, port, seed, n_ctx = sys.argv[1:6]
    llama = start_llama(model, alias, int(seed), int(n_ctx))
    address = urlsplit(llama.listening_address)
    proxy = ThreadingHTTPServer(
        ("127.0.0.1", int(port)), proxy_handler((address.hostname, address.port))
    )
    print("ready", flush=True)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
