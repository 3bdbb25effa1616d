"""The live kubelet probe: what an anonymous client on a control plane (the only place the firewall lets reach
10250) gets from each node's kubelet. Pure: judges what the collector on a control plane saw."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeharden.core.results import LiveOutcome, Status

PROBE = "kubelet_anonymous"


def _seen(found: Mapping[str, Any]) -> str:
    if "status" in found:
        return f"HTTP {found['status']}"
    return str(found.get("error", "no answer"))


def kubelet_outcome(found: Mapping[str, Any] | None, source: str, address: str) -> LiveOutcome:
    """``found``: {"anonymous": {status|error}, "read_only": {status|error}} as the collector on ``source`` saw
    ``address``. 401 on 10250 and nothing on 10255 pass; an answer from 10255, 200 or 403 on 10250 fail (403:
    anonymous requests are authenticated and only authorization stops them); no answer on 10250 cannot be judged."""
    if found is None:
        return LiveOutcome(Status.WARN, "", f"not probed: no control plane of this run probed {address}")
    anonymous, read_only = found.get("anonymous", {}), found.get("read_only", {})
    observed = (
        f"from {source}: anonymous GET https://{address}:10250/pods -> {_seen(anonymous)}; "
        f"http://{address}:10255/pods -> {_seen(read_only)}"
    )
    if "status" in read_only:
        return LiveOutcome(Status.FAIL, observed, "the read-only port answers: set readOnlyPort: 0")
    status = anonymous.get("status")
    if status == 401:
        return LiveOutcome(Status.PASS, observed)
    if status == 403:
        return LiveOutcome(Status.FAIL, observed, "anonymous requests are authenticated (only authorization refuses)")
    if status is not None:
        return LiveOutcome(Status.FAIL, observed, "the kubelet serves anonymous requests")
    return LiveOutcome(Status.WARN, observed, "the kubelet could not be reached from a control plane: not judged")
