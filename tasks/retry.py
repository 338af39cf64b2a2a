"""When a failed task run is worth another try: only transient errors."""

from __future__ import annotations

from typing import Any

from report_exports.errors import is_transient


def retry_on_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry lost connections and storage hiccups only."""
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return False
