"""Run scim2-tester (PyPI) against a SCIM base URL; print one JSON line per check result.

Usage: python scim_checks.py BASE_URL TOKEN

The client is scim2-client's own httpx2 engine (`scim2-client[httpx2]`, installed by
scripts/test.sh), so every request is made by the upstream tools, not by us.
"""

import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server


def main():
    base, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    for result in check_server(client):
        print(json.dumps({
            "status": result.status.name,
            "title": result.title,
            "resource_type": result.resource_type,
            "reason": result.reason,
        }), flush=True)


if __name__ == "__main__":
    main()
