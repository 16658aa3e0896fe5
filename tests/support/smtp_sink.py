"""A real SMTP server for kizuna's tests, on aiosmtpd.

Usage: python3 smtp_sink.py PORT OUTDIR [--count-only]

Accepts mail on 127.0.0.1:PORT and writes each message to OUTDIR/<n>.eml, and its decoded
headers and text to OUTDIR/<n>.json. Behaviour by
recipient, so one server covers every case the tests need:
  reject...@  -> 550 5.1.1 at RCPT (the address refused: a hard bounce)
  spam...@    -> 554 5.7.1 at DATA (the message refused: permanent, the address is fine)
  busy...@    -> 451 at DATA the first time a Message-ID is seen, then accepted
With --count-only nothing is written: only OUTDIR/count is kept up to date (for
benchmarks, so the sink's own file writing is not what is measured).
Prints "ready" on stdout once listening; stops when stdin closes.
"""
import email
import email.policy
import json
import os
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out, count_only=False):
        self.out = out
        self.count_only = count_only
        # A restarted server keeps numbering after what it received before.
        self.count = sum(1 for f in os.listdir(out) if f.endswith(".eml"))
        self.deferred = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.content.decode("utf-8", "replace")
        message_id = ""
        for line in content.splitlines():
            if line.lower().startswith("message-id:"):
                message_id = line.split(":", 1)[1].strip()
                break
        if any(r.startswith("spam") for r in envelope.rcpt_tos):
            return "554 5.7.1 message rejected as spam"
        if any(r.startswith("busy") for r in envelope.rcpt_tos) and message_id not in self.deferred:
            self.deferred.add(message_id)
            return "451 4.3.0 try again later"
        self.count += 1
        if self.count_only:
            if self.count % 1000 == 0:
                with open(os.path.join(self.out, "count"), "w") as f:
                    f.write(str(self.count))
            return "250 2.0.0 queued as %d" % self.count
        path = os.path.join(self.out, f"{self.count:06d}.eml")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(f"X-Envelope-From: {envelope.mail_from}\r\n")
            f.write(f"X-Envelope-To: {','.join(envelope.rcpt_tos)}\r\n")
            f.write(content)
        os.rename(path + ".tmp", path)
        # The same message decoded (headers unfolded and RFC 2047-decoded, body as text),
        # so tests assert on what a mail client would show.
        parsed = email.message_from_string(content, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        html = parsed.get_body(preferencelist=("html",))
        summary = {
            "envelope_to": envelope.rcpt_tos,
            "headers": {k: str(v) for k, v in parsed.items()},
            "body": body.get_content() if body is not None else "",
            "html": html.get_content() if html is not None else None,
        }
        with open(os.path.join(self.out, f"{self.count:06d}.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, ensure_ascii=False)
        return "250 2.0.0 queued as %d" % self.count


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    count_only = "--count-only" in sys.argv[3:]
    controller = Controller(Sink(out, count_only), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
