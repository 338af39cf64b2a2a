"""The project's own account API under ``/account/v1``: what belongs to an account rather
than to one of the three vendor surfaces (webhook endpoints, schedules).

Each module of this package that defines ``router`` (an ``APIRouter`` whose prefix starts
with :data:`PREFIX`) is mounted by the app; authenticate with ``api_shim.deps.AccountAdmin``
and answer errors in the webhook surface's envelope (``surfaces.registry.BORROWED_SHAPES``).
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter

PREFIX = "/account/v1"


def routers() -> list[APIRouter]:
    """The router of every module in this package, in module-name order."""
    found: list[APIRouter] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found
