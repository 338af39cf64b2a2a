"""Prefect's REST API for a process that never imports Prefect (the CLI on a stack).

Importing Prefect's client costs a process about a second, more than the export of a day
takes; a command that hands its export to a running stack needs two calls: is the export
deployment served (and by a stack on this job store), and create the job's run. They are
plain HTTP here, with the standard library, and make the same run as
:func:`submission.launcher.launch` (deployment, parameters, name, tags, idempotency key).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from jobstore.models import ExportJob
from submission.launcher import EXPORT_DEPLOYMENT, LaunchError, idempotency_key, run_tags


def _call(url: str, body: dict[str, Any] | None, timeout: float) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.load(answer)


def served_export_deployment(api_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The export deployment if something serves it at ``api_url`` now, else None.

    Prefect marks a deployment READY while a runner or worker polls for its runs (and
    NOT_READY a minute after the last poll): a run launched then starts at once.
    """
    url = f"{api_url.rstrip('/')}/deployments/name/{EXPORT_DEPLOYMENT}"
    try:
        deployment = _call(url, None, timeout)
    except (OSError, ValueError):  # refused, timed out, an HTTP error, not JSON
        return None
    if not isinstance(deployment, dict) or deployment.get("status") != "READY":
        return None
    return deployment


def launch_over_http(
    job: ExportJob, api_url: str, deployment_id: str, timeout: float = 10.0
) -> str:
    """Create the job's run on the served export deployment; its id (LaunchError if not)."""
    url = f"{api_url.rstrip('/')}/deployments/{deployment_id}/create_flow_run"
    body = {
        "name": f"export job {job.id}",
        "parameters": {"job_id": job.id},
        "tags": run_tags(job),
        "idempotency_key": idempotency_key(job),
        "state": {"type": "SCHEDULED", "name": "Scheduled"},
    }
    try:
        return str(_call(url, body, timeout)["id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LaunchError(f"could not launch export job {job.id}: {type(exc).__name__}") from exc
