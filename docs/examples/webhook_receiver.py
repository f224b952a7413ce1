"""A minimal webhook receiver for the crawl service: verifies each delivery's signature with the
`standardwebhooks` package, ignores repeats of a webhook-id, and prints one JSON line per event.

    pip install standardwebhooks
    WEBHOOK_SECRET=whsec_... python docs/examples/webhook_receiver.py --port 9000

then create the webhook with `"url": "http://127.0.0.1:9000/"` (a loopback URL needs the service's
ALLOW_PRIVATE_TARGETS=1). It answers 204 to a delivery it accepts, 400 to one whose signature does
not verify. Deliveries come at least once: a real receiver should keep the ids it has seen in its
database, not in memory.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


class Receiver(BaseHTTPRequestHandler):
    webhook: Webhook
    seen: set[str] = set()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            event = self.webhook.verify(body, dict(self.headers))
        except WebhookVerificationError as exc:
            self.send_response(400)
            self.end_headers()
            print(json.dumps({"refused": str(exc)}), flush=True)
            return
        webhook_id = self.headers["webhook-id"]
        repeat = webhook_id in self.seen
        self.seen.add(webhook_id)
        self.send_response(204)
        self.end_headers()
        job = event["data"]
        print(json.dumps({"webhook_id": webhook_id, "repeat": repeat, "type": event["type"], "job_id": job["id"],
                          "status": job["status"], "pages": job["progress"]["total_tasks"],
                          "broken_links": job["issue_counts"]["broken_links"],
                          "slow_pages": job["issue_counts"]["slow_pages"]}), flush=True)  # fmt: skip

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # one line per event is enough


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        sys.exit("Set WEBHOOK_SECRET to the secret POST /v1/webhooks returned (whsec_...).")
    Receiver.webhook = Webhook(secret)
    server = ThreadingHTTPServer((args.host, args.port), Receiver)
    print(f"listening on http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
