"""A client of the compose stack from inside a container on the proxy's `public` network (run by
tests/compose/test_compose_stack.py with only Python's standard library): sends the requests read
from stdin as JSON through the TLS proxy and prints, as JSON, its own address and the answers.

stdin: {"base": "https://proxy", "ca": "/certs/ca.crt",
        "requests": [{"path": "/api/v0/events", "body": {...}, "headers": {...}, "delay": 0.2}]}
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request


def main() -> None:
    spec = json.load(sys.stdin)
    context = ssl.create_default_context(cafile=spec["ca"])
    results = []
    for item in spec["requests"]:
        time.sleep(item.get("delay", 0))
        data = json.dumps(item["body"]).encode() if "body" in item else None
        request = urllib.request.Request(  # noqa: S310 (https only: the base URL is the test's)
            spec["base"] + item["path"],
            data=data,
            method="POST" if data is not None else "GET",
            headers={"Content-Type": "application/json", **item.get("headers", {})},
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:  # noqa: S310
                status, body, headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, body, headers = exc.code, exc.read(), exc.headers
        results.append(
            {"status": status, "body": body.decode(errors="replace"), "request_id": headers.get("X-Request-ID")}
        )
    print(json.dumps({"address": socket.gethostbyname(socket.gethostname()), "results": results}))


if __name__ == "__main__":
    main()
