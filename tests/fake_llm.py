"""A small OpenAI-compatible chat server on 127.0.0.1 for tests (real HTTP, real openai client).

The behaviour per product is chosen by a word in the product text (the last user message):
``MALFORMED`` (answers prose, never JSON), ``RATELIMIT`` (429 first, then a good answer),
``SERVERERR`` (500 first, then good), ``HANG`` (sleeps past any test timeout), anything else
answers well. ``server.requests`` counts requests per product text; ``server.delay`` slows every
answer; ``server.status`` forces a status for every request (e.g. 401).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def good_answer(product: str) -> str:
    words = re.findall(r"[a-z0-9]+", product.lower())
    head = " ".join(words[:2]) or "thing"
    return json.dumps({"queries": [
        {"kind": "specific", "query": f"{head} model x1"},
        {"kind": "general", "query": f"{words[-1] if words else 'thing'} tools"},
        {"kind": "need", "query": f"something for {head}"},
        {"kind": "attribute", "query": f"blue {head}"},
    ]})


class FakeLLM(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.delay = 0.0
        self.status: int | None = None
        self.cost: float | None = None
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeLLM

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if not self.path.endswith("/chat/completions"):
            return self._send(404, {"error": {"message": "not found"}})
        product = body["messages"][-1]["content"]
        with self.server.lock:
            self.server.requests[product] += 1
            n = self.server.requests[product]
        if self.server.status:
            return self._send(self.server.status, {"error": {"message": "forced", "type": "test"}})
        if "HANG" in product:
            time.sleep(5)
            return self._send(200, {})
        if "RATELIMIT" in product and n == 1:
            return self._send(429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"retry-after-ms": "10"})
        if "SERVERERR" in product and n == 1:
            return self._send(500, {"error": {"message": "boom", "type": "server"}}, {"retry-after-ms": "10"})
        time.sleep(self.server.delay)
        text = "Sorry, I cannot help with that product." if "MALFORMED" in product else good_answer(product)
        usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        if self.server.cost is not None:
            usage["cost"] = self.server.cost
        self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body.get("model", "m"),
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": text}}],
                         "usage": usage})
