"""Webhook acceptance in-process: signature check, replay check, enqueue to Azurite.

What `POST /api/twilio/numbers` costs inside the function once the app is warm: the sender's rate
limit, the SDK's RequestValidator over the configured public URL (form and JSON bodies) or the
notice secret's HMAC-SHA256 (`X-Byoc-Signature`), payload parsing, the replay check (one claim of
the notice's content key in the state table) and one queue send, all on a local Azurite (started
here on free ports). The three kinds alternate; every request has its own event id and number.
Prints a summary line per kind, then as its last line one JSON object:
{"p50_ms": <float>, "p99_ms": <float>, "n": <int>}. Target: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

TOKEN = "benchmark-twilio-auth-token"
SECRET = "benchmark-notice-secret"
PUBLIC_URL = "https://byoc.example.com/api/twilio/numbers"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=400, help="requests measured (after 20 warm-up)")
    args = parser.parse_args(argv)

    from azurite import start_azurite
    from twilio.request_validator import RequestValidator

    from byoc.adapters.queue import StorageJobQueue
    from byoc.adapters.storage import StorageAccess
    from byoc.adapters.tables import TableStateStore
    from byoc.services.webhooks import TwilioNumberWebhook, WebhookRequest

    azurite = start_azurite()
    try:
        access = StorageAccess(connection_string=azurite.connection_string, queue_uri=None,
                               table_uri=None, blob_uri=None, credential=None, api_version=None)
        queue = StorageJobQueue(access, queue_name="bench-jobs", poison_name="bench-jobs-poison")
        state = TableStateStore(access, "benchstate")
        webhook = TwilioNumberWebhook(public_url=PUBLIC_URL, auth_token=lambda: TOKEN,
                                      queue=queue, state=state, notice_secret=lambda: SECRET,
                                      rate_per_minute=100_000)
        signer = RequestValidator(TOKEN)
        run = f"{time.time():.0f}"

        def request(index: int) -> WebhookRequest:
            number = f"+1415{200 + int(run) % 800:03d}{index % 10000:04d}"
            if index % 3 == 2:
                raw = json.dumps({"event_id": f"bench-{index}", "action": "purchased",
                                  "phone_number": number})
                at = int(time.time())
                mac = hmac.new(SECRET.encode(), f"{at}.{raw}".encode(), hashlib.sha256)
                return WebhookRequest(raw.encode(), "", "application/json", None,
                                      byoc_signature=f"t={at},v1={mac.hexdigest()}")
            if index % 3 == 1:
                raw = json.dumps({"event_id": f"bench-{index}", "action": "purchased",
                                  "phone_number": number})
                query = f"bodySHA256={signer.compute_hash(raw)}"
                return WebhookRequest(raw.encode(), query, "application/json",
                                      signer.compute_signature(f"{PUBLIC_URL}?{query}", {}))
            params = {"EventId": f"bench-{index}", "Action": "purchased", "PhoneNumber": number}
            return WebhookRequest(urlencode(params).encode(), "",
                                  "application/x-www-form-urlencoded",
                                  signer.compute_signature(PUBLIC_URL, params))

        requests = [request(i) for i in range(args.n + 20)]
        timings: dict[str, list[float]] = {"form": [], "json": [], "secret": []}
        for index, item in enumerate(requests):
            started = time.perf_counter()
            answer = webhook.accept(item)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if answer.status != 202:
                raise SystemExit(f"request {index} answered {answer.status}: {answer.body}")
            if index >= 20:
                timings[("form", "json", "secret")[index % 3]].append(elapsed_ms)
        if queue.depth() < args.n:
            raise SystemExit(f"only {queue.depth()} of {args.n + 20} messages were enqueued")
    finally:
        azurite.stop()

    every = timings["form"] + timings["json"] + timings["secret"]
    for kind, values in timings.items():
        print(f"{kind}: n={len(values)} p50={statistics.median(values):.2f} ms "
              f"p99={percentile(values, 0.99):.2f} ms max={max(values):.2f} ms")
    print(json.dumps({"p50_ms": round(statistics.median(every), 2),
                      "p99_ms": round(percentile(every, 0.99), 2), "n": len(every)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
