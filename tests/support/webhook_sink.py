"""A real HTTP receiver for kizuna's webhook channel, on Python's http.server.

Usage: python3 webhook_sink.py PORT OUTDIR   (the secret is read from WEBHOOK_SECRET)

Checks X-Kizuna-Signature (HMAC-SHA256 of the body) and answers 401 if it is wrong. For a
message to customer busy...: 503 the first time its X-Kizuna-Message-Id is seen, then 200;
to bad...: 422. Every accepted message is written to OUTDIR/<n>.json with the headers it
came with; every GET (a delivery report) to OUTDIR/<n>.get. POSTs to
/2010-04-01/Accounts/<sid>/Messages.json are a Twilio-compatible SMS API (basic auth with
the secret as token; To +819000... 503 once, +8199... 400). POSTs to /chat/<secret> are a
chat incoming webhook (Slack, Mattermost): JSON {"text"}, a text starting "busy" 503 once,
"bad" 400 invalid_payload, another path token 404 no_team. Prints "ready" once listening;
stops when stdin closes.
"""
import base64
import hashlib
import hmac
import json
import urllib.parse
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["WEBHOOK_SECRET"].encode()
OUT = sys.argv[2]
LOCK = threading.Lock()
SEEN = set()


def publish(path, text):
    """Writes `text` to `path` whole: a reader listing the directory meanwhile never sees a
    file that is still empty (the tests poll for what arrived)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class Hook(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        # Delivery reports (Kannel's dlr-url) arrive as GETs: kept as the path they came to.
        with LOCK:
            n = sum(1 for f in os.listdir(OUT) if f.endswith(".get")) + 1
            publish(os.path.join(OUT, f"{n:06d}.get"), self.path)
        return self.answer(200)

    def twilio(self, body):
        # A Twilio-compatible API: basic auth (account SID : the secret), form fields.
        sid = self.path.split("/")[3]
        want = "Basic " + base64.b64encode(f"{sid}:".encode() + SECRET).decode()
        if not hmac.compare_digest(want, self.headers.get("Authorization", "")):
            return self.answer(401)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8")).items()}
        to = form.get("To", "")
        with LOCK:
            if to.startswith("+8199"):
                return self.answer(400)
            key = to + form.get("Body", "")
            if to.startswith("+819000") and key not in SEEN:
                SEEN.add(key)
                return self.answer(503)
            n = sum(1 for f in os.listdir(OUT) if f.endswith(".json")) + 1
            publish(os.path.join(OUT, f"{n:06d}.json"),
                    json.dumps({"twilio": form, "account": sid}, ensure_ascii=False))
        reply = json.dumps({"sid": f"SM{n:032d}", "status": "queued"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def chat(self, body):
        # An incoming webhook: the URL is the credential; the answer is plain text.
        def say(code, text):
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        if not hmac.compare_digest(self.path, "/chat/" + SECRET.decode()):
            return say(404, "no_team")
        try:
            text = json.loads(body)["text"]
        except (ValueError, KeyError, TypeError):
            return say(400, "invalid_payload")
        if not isinstance(text, str) or not text:
            return say(400, "no_text")
        with LOCK:
            if text.startswith("bad"):
                return say(400, "invalid_payload")
            if text.startswith("busy") and text not in SEEN:
                SEEN.add(text)
                return say(503, "try again")
            n = sum(1 for f in os.listdir(OUT) if f.endswith(".json")) + 1
            publish(os.path.join(OUT, f"{n:06d}.json"),
                    json.dumps({"chat": text}, ensure_ascii=False))
        return say(200, "ok")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.startswith("/2010-04-01/Accounts/"):
            return self.twilio(body)
        if self.path.startswith("/chat/"):
            return self.chat(body)
        want = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, self.headers.get("X-Kizuna-Signature", "")):
            return self.answer(401)
        message = json.loads(body)
        if message.get("ping"):
            return self.answer(204)
        to, mid = message.get("to", ""), self.headers.get("X-Kizuna-Message-Id", "")
        with LOCK:
            if to.startswith("bad"):
                return self.answer(422)
            if to.startswith("busy") and mid not in SEEN:
                SEEN.add(mid)
                return self.answer(503)
            n = sum(1 for f in os.listdir(OUT) if f.endswith(".json")) + 1
            record = {"message": message, "message_id": mid,
                      "signature": self.headers.get("X-Kizuna-Signature")}
            publish(os.path.join(OUT, f"{n:06d}.json"), json.dumps(record, ensure_ascii=False))
        return self.answer(200)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
