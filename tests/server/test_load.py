"""Sixteen SDK clients at once, two hundred requests each, over one asset pool: every answer is a
success or the platform's refusal (a lost race is a 409, never a 5xx), and the audit trail verifies
clean afterwards."""

from __future__ import annotations

import random
import threading
from collections import Counter

from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmetastudio.v1 import (
    ListAssetsRequest,
    ShowAssetRequest,
    UpdateDigitalAssetRequest,
    UpdateDigitalAssetRequestBody,
)

from tests.server.conftest import OPERATOR, TENANT_A, LiveServer
from tests.server.sdk import uploaded
from tests.server.signed import call

CLIENTS = 16
REQUESTS = 200
POOL = 8


def test_16_clients_200_requests_each_leave_a_clean_audit(server: LiveServer) -> None:
    pool = [uploaded(server.client(TENANT_A), f"Load {n}") for n in range(POOL)]
    outcomes: Counter[str] = Counter()
    unexpected: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def work(seed: int) -> None:
        pick = random.Random(seed)
        client = server.client(TENANT_A)
        start.wait()
        for _ in range(REQUESTS):
            asset_id = pick.choice(pool)
            kind = pick.choice(("show", "show", "list", "activate", "deactivate"))
            try:
                if kind == "show":
                    client.show_asset(ShowAssetRequest(asset_id=asset_id))
                elif kind == "list":
                    client.list_assets(ListAssetsRequest(name="load", limit=5))
                else:
                    state = "ACTIVED" if kind == "activate" else "UNACTIVED"
                    body = UpdateDigitalAssetRequestBody(asset_state=state)
                    client.update_digital_asset(UpdateDigitalAssetRequest(asset_id=asset_id, body=body))
                outcome = "ok"
            except ClientRequestException as error:
                outcome = f"{error.status_code} {error.error_code}"
                if error.status_code != 409:
                    with lock:
                        unexpected.append(f"{kind}: {error.status_code} {error.error_code} {error.error_msg}")
            except Exception as error:  # noqa: BLE001 - any other failure is reported below
                outcome = "failed"
                with lock:
                    unexpected.append(f"{kind}: {type(error).__name__}: {error}")
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert unexpected == []
    assert sum(outcomes.values()) == CLIENTS * REQUESTS
    assert outcomes["ok"] > CLIENTS * REQUESTS // 2, outcomes
    report = call("GET", server.url, "/admin/v1/audit/verify", OPERATOR, query={"project_id": "tenant-a"})
    assert report.status_code == 200
    assert report.json()["clean"] is True, report.json()
