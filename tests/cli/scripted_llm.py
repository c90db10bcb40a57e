#!/usr/bin/env python3
"""scripted_llm.py: a minimal OpenAI-compatible chat server on loopback whose
replies the test controls, for tests/cli/ask_model.sh and chat tests.

It reads the numbered sources from the prompt ken sends ("[n] title..." then
the text), finds for each fact (a phrase given with --fact) the source that
holds it and the sentence around it, and replies according to --mode:

  correct   each fact's sentence cited with the right source number
  swap      the same sentences with their source numbers rotated (wrong sources)
  invalid   the same sentences citing a source number that was not given
  uncited   the same sentences without citations
  unsure    "I don't know."
  echo      the question, cited [1]

Replies stream as SSE (stream: true) in small pieces, or come whole. Every
request body is appended to --log (one JSON per line). The port it listens on
is written to --port-file.

  scripted_llm.py --mode correct --fact "two weeks" --port-file F [--log L]
"""
import argparse
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None


def parse_sources(user):
    """{n: text} from the user message ken builds."""
    sources, cur, buf = {}, None, []
    for line in user.split("\n"):
        m = re.match(r"^\[(\d+)\] ", line)
        if m and (cur is None or not buf or buf[-1] == ""):
            if cur is not None:
                sources[cur] = "\n".join(buf).strip()
            cur, buf = int(m.group(1)), []
            continue
        if line.startswith("Question: "):
            break
        if cur is not None:
            buf.append(line)
    if cur is not None:
        sources[cur] = "\n".join(buf).strip()
    return sources


def sentence_with(text, phrase):
    for para in re.split(r"\n\s*\n", text):
        for s in re.split(r"(?<=[.!?])\s+", para.replace("\n", " ")):
            if phrase.lower() in s.lower():
                return s.strip().rstrip(".")
    return None


def make_reply(messages):
    user = messages[-1]["content"] if messages else ""
    if ARGS.mode == "unsure":
        return "I don't know."
    if ARGS.mode == "echo":
        q = user.split("Question: ", 1)[-1]
        return q + " [1]"
    sources = parse_sources(user)
    found = []
    for fact in ARGS.fact:
        for n in sorted(sources):
            s = sentence_with(sources[n], fact)
            if s:
                found.append((n, s))
                break
    if not found:
        return "The sources say nothing about that [1]."
    nums = [n for n, _ in found]
    parts = []
    for i, (n, s) in enumerate(found):
        if ARGS.mode == "correct":
            parts.append("%s [%d]." % (s, n))
        elif ARGS.mode == "swap":
            parts.append("%s [%d]." % (s, nums[(i + 1) % len(nums)]))
        elif ARGS.mode == "invalid":
            parts.append("%s [%d]." % (s, len(sources) + 5))
        else:
            parts.append("%s." % s)
    return " ".join(parts)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list",
                                 "data": [{"id": ARGS.name, "object": "model"}]})
        else:
            self.send_json(404, {"error": {"message": "no such path"}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        if ARGS.log:
            with open(ARGS.log, "a") as f:
                f.write(json.dumps(req) + "\n")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": "no such path"}})
            return
        reply = make_reply(req.get("messages", []))
        toks = max(1, len(reply) // 4)
        if not req.get("stream"):
            self.send_json(200, {
                "id": "x", "object": "chat.completion", "model": ARGS.name,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": reply}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": toks}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        pieces = [reply[i:i + 7] for i in range(0, len(reply), 7)]
        for p in pieces:
            ev = {"id": "x", "object": "chat.completion.chunk", "model": ARGS.name,
                  "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
            self.wfile.write(b"data: " + json.dumps(ev).encode() + b"\n\n")
            self.wfile.flush()
        ev = {"id": "x", "object": "chat.completion.chunk", "model": ARGS.name,
              "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 100, "completion_tokens": toks}}
        self.wfile.write(b"data: " + json.dumps(ev).encode() + b"\n\ndata: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="correct",
                   choices=["correct", "swap", "invalid", "uncited", "unsure", "echo"])
    p.add_argument("--fact", action="append", default=[])
    p.add_argument("--name", default=None)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    ARGS = p.parse_args()
    if ARGS.name is None:
        ARGS.name = "scripted-" + ARGS.mode
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.replace(ARGS.port_file + ".tmp", ARGS.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
