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
        **_tls(),
    }
    with open(out, "w") as fh:
        json.dump(facts, fh)


def _suspension_watch() -> str:
    import prefect.flow_engine

    return prefect.flow_engine.observe_flow_run_suspension.__module__


def _tls() -> dict[str, object]:
    import ssl

    import certifi
    import prefect.client.orchestration as orchestration

    first = orchestration.ssl.create_default_context(cafile=certifi.where())
    second = orchestration.ssl.create_default_context(cafile=certifi.where())
    from prefect.client.schemas.actions import BlockTypeCreate  # no run ever makes one

    return {
        "unused_model_built": type(BlockTypeCreate.__pydantic_validator__).__name__ != "MockValSer",
        "tls_stand_in": type(orchestration.ssl).__name__,
        "tls_shared": first is second,
        "tls_verifies": first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname,
        "global_ssl_untouched": ssl.create_default_context is not None
        and ssl.create_default_context.__module__ == "ssl",
    }
