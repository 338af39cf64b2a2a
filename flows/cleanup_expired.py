"""cleanup-expired: the scheduled retention flow."""

from __future__ import annotations

from prefect import flow

from tasks.retention import expire


@flow(name="cleanup-expired", persist_result=False)
def cleanup_expired(now_iso: str | None = None) -> dict[str, list[int]]:
    """Delete files past retention and mark their jobs expired."""
    return expire(now_iso)
