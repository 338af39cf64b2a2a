"""What a stage tells operators: Prefect's run logger, and failures with their class.

Logs go through the run logger, so they show in the flow run's Logs tab and in
``prefect flow-run logs``; outside a run (plain function calls, tests) a module logger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from report_exports.errors import is_transient, public_message

T = TypeVar("T")
_fallback = logging.getLogger("report_exports.run")


def run_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    """The current run's logger (flow or task), or a module logger outside runs."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return _fallback


def _retries_left() -> int:
    from prefect.context import TaskRunContext

    ctx = TaskRunContext.get()
    if ctx is None:
        return 0
    retries = ctx.task.retries or 0
    return max(retries - (ctx.task_run.run_count - 1), 0)


def failure_line(what: str, exc: BaseException, retries_left: int) -> str:
    """``extract 0003 ...: TransientStorageError (transient) ...; will be retried (2 left)``."""
    transient = is_transient(exc)
    kind = "transient" if transient else "permanent"
    retry = (
        f"will be retried ({retries_left} left)" if transient and retries_left else "not retried"
    )
    return (
        f"{what} failed: {type(exc).__name__} ({kind}): {exc}; "
        f"clients are told {public_message(exc)!r}; {retry}"
    )


@contextmanager
def logged_failure(what: str) -> Iterator[None]:
    """Log a failure of ``what`` with its class and whether Prefect will retry it."""
    try:
        yield
    except Exception as exc:
        run_logger().error(failure_line(what, exc, _retries_left()))
        raise


def attempt_note() -> str:
    """``retried (attempt 2)`` for a task run past its first try, else ``first attempt``."""
    from prefect.context import TaskRunContext

    ctx = TaskRunContext.get()
    count = ctx.task_run.run_count if ctx is not None else 1
    return f"retried (attempt {count})" if count > 1 else "first attempt"


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """``call()`` and the seconds it took."""
    import time

    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start
