"""A tiny priced OpenAI-compatible server for tests: canned completions, `usage` on every answer, and a record
of what it billed. Not a model: it answers every prompt with the same words, so only the orchestration is tested.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

MODEL = "priced-fake"
REPLY = "Let me think step by step. The answer is 42."


def count_tokens(text: str) -> int:
    """The server's own tokenizer: one token per whitespace-separated word (a BOS token first)."""
    return 1 + len(text.split())


@dataclass
class Billed:
    path: str
    prompt_tokens: int
    completion_tokens: int


@dataclass
class FakeServer:
    url: str  # the OpenAI base URL, ending in /v1
    report_usage: bool = True
    tokenize_endpoint: bool = False
    fail_after: int | None = None  # answer HTTP 500, unbilled, from this many completions on
    billed: list[Billed] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def totals(self) -> tuple[int, int]:
        with self.lock:
            return sum(b.prompt_tokens for b in self.billed), sum(b.completion_tokens for b in self.billed)


def _handler(server: FakeServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet test output
            pass

        def _answer(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._answer(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "tests"}]})
            else:
                self._answer(404, {"error": {"message": f"no {self.path}"}})

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            if self.path == "/extras/tokenize" and server.tokenize_endpoint:
                self._answer(200, {"tokens": list(range(count_tokens(request["input"])))})
                return
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                self._answer(404, {"error": {"message": f"no {self.path}"}})
                return
            with server.lock:
                if server.fail_after is not None and len(server.billed) >= server.fail_after:
                    self._answer(500, {"error": {"message": "the fake server is down"}})
                    return
                words = REPLY.split()[: max(1, int(request.get("max_tokens", 16)) - 1)]
                text = " " + " ".join(words)
                prompt = request.get("prompt") or "\n".join(m["content"] for m in request.get("messages", []))
                billed = Billed(self.path, count_tokens(prompt), len(words))
                server.billed.append(billed)
            choice = ({"index": 0, "text": text, "finish_reason": "stop"} if self.path == "/v1/completions" else
                      {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
            payload = {"id": "fake", "object": "text_completion", "model": MODEL, "choices": [choice]}
            if server.report_usage:
                payload["usage"] = {"prompt_tokens": billed.prompt_tokens,
                                    "completion_tokens": billed.completion_tokens,
                                    "total_tokens": billed.prompt_tokens + billed.completion_tokens}
            self._answer(200, payload)

    return Handler


@contextmanager
def fake_openai_server(**options) -> Iterator[FakeServer]:
    """The server on a free local port for the length of the block."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server := FakeServer(url="", **options)))
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
