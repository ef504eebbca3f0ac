"""A tiny OpenAI-compatible server on 127.0.0.1, in a thread, for synthesis jobs that talk
to a model endpoint: it answers from a script, or misbehaves on purpose (too slow, not
JSON)."""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

# Lua translations of some of synthesis/seeds/python_functions.toml, by seed name.
TRANSLATIONS = {
    "digit_sum": "function digit_sum(n)\n  local total = 0\n  while n > 0 do\n    total = total + n % 10\n"
                 "    n = n // 10\n  end\n  return total\nend\n",
    "is_palindrome": "function is_palindrome(s)\n  return s == s:reverse()\nend\n",
}
SELF_INSTRUCT_TASK = {
    "instruction": "Write a function `count_words(s)` that returns how many space-separated words s has.",
    "entry_point": "count_words",
    "code": "function count_words(s)\n  local n = 0\n  for _ in s:gmatch(\"%S+\") do n = n + 1 end\n  return n\nend\n",
    "tests": [{"args": ["a b c"], "expected": 3}, {"args": [""], "expected": 0}, {"args": ["  x  "], "expected": 1}],
}


def fenced(code: str) -> str:
    return f"```lua\n{code.rstrip()}\n```"


class ScriptedModel:
    """Answers the synthesis prompts well enough for each model-driven generator to keep
    something: translations of known seeds, one self-instruct task, and back-translation
    by remembering which program each description was written for."""

    def __init__(self):
        self.programs: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, prompt: str) -> str:
        name = re.search(r"Keep the name `(\w+)`", prompt)
        if name:
            return fenced(TRANSLATIONS.get(name.group(1), "print('no idea')"))
        if prompt.startswith("Here is a "):  # back-translation, code -> description
            code = re.search(r"```\w*\n(.*?)```", prompt, re.S)
            with self.lock:
                self.programs.append(code.group(1) if code else "")
                number = len(self.programs) - 1
            return f"The program numbered {number} in the script prints what it prints, in order."
        number = re.search(r"The program numbered (\d+) in the script", prompt)
        if number:
            return fenced(self.programs[int(number.group(1))])
        if '"instruction"' in prompt or "instruction" in prompt:
            return json.dumps(SELF_INSTRUCT_TASK)
        return "I cannot help with that."


class FakeEndpoint:
    """`with FakeEndpoint(answer) as endpoint:` then `endpoint.backend` is the job's
    backend spec. `answer(prompt) -> str` writes each completion; `mode` misbehaves:
    "slow" (answers after `delay` seconds), "garbage" (HTTP 200, not JSON)."""

    def __init__(self, answer: Callable[[str], str] = lambda prompt: "", *, mode: str = "ok", delay: float = 3.0,
                 fail_after: int | None = None):
        self.answer, self.mode, self.delay, self.fail_after = answer, mode, delay, fail_after
        self.requests = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def backend(self, **extra) -> dict:
        return {"kind": "openai", "base_url": self.base_url, "model": "scripted", **extra}

    def __enter__(self) -> "FakeEndpoint":
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with endpoint._lock:
                    endpoint.requests += 1
                    number = endpoint.requests
                mode = endpoint.mode
                if endpoint.fail_after is not None and number > endpoint.fail_after:
                    mode = "garbage"
                if mode == "slow":
                    endpoint._closing.wait(endpoint.delay)
                if mode == "garbage":
                    payload = b"<html><body>502 Bad Gateway</body></html>"
                else:
                    prompt = body.get("prompt") or body["messages"][-1]["content"]
                    n = int(body.get("n", 1))
                    choices = [{"index": i, "text": endpoint.answer(prompt), "finish_reason": "stop"} for i in range(n)]
                    payload = json.dumps({"choices": choices, "usage": {"completion_tokens": 10 * n}}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (the timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()
