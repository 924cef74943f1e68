"""Many SDK clients at once against one service, as the load tests and the benchmark run them."""

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

from tests.server.conftest import TENANT_A, LiveServer
from tests.server.sdk import uploaded


def hammer(url: str, *, clients: int, requests: int, pool: int = 8) -> tuple[Counter[str], list[str]]:
    """``clients`` threads, each its own SDK client, ``requests`` each over ``pool`` assets:
    shows, listings, activations and deactivations. The outcomes counted ("ok", or the status and
    code of a refusal), and what was not a success or a lost race (409)."""
    assets = [uploaded(LiveServer.client_for(url, TENANT_A), f"Load {n}") for n in range(pool)]
    outcomes: Counter[str] = Counter()
    unexpected: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def work(seed: int) -> None:
        pick = random.Random(seed)
        client = LiveServer.client_for(url, TENANT_A)
        start.wait()
        for _ in range(requests):
            asset_id = pick.choice(assets)
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
            except Exception as error:  # noqa: BLE001 - any other failure is reported to the test
                outcome = "failed"
                with lock:
                    unexpected.append(f"{kind}: {type(error).__name__}: {error}")
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, unexpected
