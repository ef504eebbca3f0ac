"""A small real HTTP server speaking the OpenAI completions API, for backend tests.

Its behaviour is chosen per request by the `model` name, so one server covers the
good answers and the failure modes a real endpoint can produce.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class OpenAIStubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address):
        # The "slow" model writes to a client that already gave up: expected, not news.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: OpenAIStubServer

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        model = body.get("model")
        if model == "slow":
            time.sleep(2)
        if model == "garbage":
            return self._send(200, b"<html>upstream proxy error</html>", "text/html")
        if model == "broken":
            return self._send(500, json.dumps({"error": {"message": "CUDA out of memory"}}).encode())
        if self.path == "/v1/completions" and body.get("echo"):
            return self._send_json(self._echo_logprobs(body, model))
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            return self._send(404, b'{"error": "no such route"}')
        n = body.get("n", 1)
        if model == "wrong-count":
            n = max(0, n - 1)
        prompt = body.get("prompt") or body["messages"][-1]["content"]
        # Deliberately ignores "stop": the client must cut the text itself.
        texts = [f" answer {j} to {prompt}\nsecond line" for j in range(n)]
        if self.path == "/v1/chat/completions":
            choices = [{"index": j, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                       for j, t in enumerate(texts)]
        else:
            choices = [{"index": j, "text": t, "finish_reason": "length"} for j, t in enumerate(texts)]
        # Served out of order: the client must sort by index.
        choices.reverse()
        self._send_json({"object": "text_completion", "choices": choices,
                         "usage": {"prompt_tokens": 3, "completion_tokens": 6 * n}})

    @staticmethod
    def _echo_logprobs(body, model):
        words = body["prompt"].split()
        if model == "no-logprobs":
            return {"choices": [{"index": 0, "text": body["prompt"]}]}
        # The first token has nothing before it to be predicted from: None, as real servers do.
        logprobs = [None] + [-float(i) for i in range(1, len(words))]
        return {"choices": [{"index": 0, "text": body["prompt"],
                             "logprobs": {"tokens": words, "token_logprobs": logprobs}}]}

    def _send_json(self, payload):
        self._send(200, json.dumps(payload).encode())

    def _send(self, status, data: bytes, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
