"""A flow that tells which process imported its module and which process runs it."""

from __future__ import annotations

import gc
import json
import os
import sys

from prefect import flow

IMPORTED_IN = os.getpid()


@flow(name="warm-probe", persist_result=False)
def probe(out: str) -> None:
    """Write this process's pid, its parent's, and the pid that imported this module."""
    # Prefect pickles a flow's function by value (globals too): ask sys.modules instead.
    module = sys.modules.get("tests.deployments.warm_probe")
    facts = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "imported_in": getattr(module, "IMPORTED_IN", None),
        "polars_loaded": "polars" in sys.modules,
        "frozen_objects": gc.get_freeze_count(),
        "suspension_watch": _suspension_watch(),
    }
    with open(out, "w") as fh:
        json.dump(facts, fh)


def _suspension_watch() -> str:
    import prefect.flow_engine

    return prefect.flow_engine.observe_flow_run_suspension.__module__
