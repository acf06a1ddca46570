"""Run scim2-tester (PyPI) against a SCIM base URL; print one JSON line per check result.

Usage: python scim_checks.py BASE_URL TOKEN

scim2-client's network engine needs httpx2; this driver gives it a small engine on the
standard library's urllib instead, so the test needs only scim2-tester itself.
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from scim2_client import BaseSyncSCIMClient
from scim2_tester import check_server


class Answer:
    """A response as scim2-client reads it: status_code, headers (case-insensitive), text."""

    def __init__(self, status, headers, body):
        self.status_code = status
        self.headers = headers
        self.text = body.decode("utf-8")

    def json(self):
        return json.loads(self.text)


class UrllibClient(BaseSyncSCIMClient):
    def __init__(self, base, token, **kwargs):
        super().__init__(**kwargs)
        self.base = base.rstrip("/")
        self.token = token

    def request(self, method, url, params=None, json=None, headers=None, **_):
        full = url if url.startswith("http") else self.base + url
        if params:
            full += ("&" if "?" in full else "?") + urllib.parse.urlencode(params)
        data = None
        sent = {"Authorization": f"Bearer {self.token}", "Accept": "application/scim+json"}
        if json is not None:
            data = __import__("json").dumps(json).encode("utf-8")
            sent["Content-Type"] = "application/scim+json"
        sent.update(headers or {})
        req = urllib.request.Request(full, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return Answer(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, e.headers, e.read())


def main():
    base, token = sys.argv[1], sys.argv[2]
    client = UrllibClient(base, token)
    for result in check_server(client):
        print(json.dumps({
            "status": result.status.name,
            "title": result.title,
            "resource_type": result.resource_type,
            "reason": result.reason,
        }), flush=True)


if __name__ == "__main__":
    main()
