"""Every surface the project serves: the built-in three and any named in the settings.

Surfaces load the same way whoever wrote them: a module with a ``SURFACE`` (or a tuple
``SURFACES``), named in ``BUILTIN_SURFACE_MODULES`` or in the setting
``REPORT_EXPORTS_SURFACE_MODULES``. Tests may :func:`register` one directly.
"""

from __future__ import annotations

import importlib
from functools import cache

from report_exports.errors import ValidationError
from report_exports.settings import get_settings
from surfaces.base import Surface

BUILTIN_SURFACE_MODULES = ("surfaces.verifyhuman", "surfaces.hienergy", "surfaces.webhooks")
FALLBACK = "verifyhuman"
"""Whose error shape a path that belongs to no surface gets (``/files/...``, unknown paths)."""
BORROWED_SHAPES = {"/account/": "webhooks"}
"""Path prefixes outside every surface that speak a surface's error shape: the project's own
account API (``/account/v1/...``) answers in the webhook surface's envelope."""

_registered: dict[str, Surface] = {}


@cache
def _loaded() -> dict[str, Surface]:
    found: dict[str, Surface] = {}
    for name in (*BUILTIN_SURFACE_MODULES, *get_settings().surface_modules):
        module = importlib.import_module(name)
        declared = getattr(module, "SURFACES", None) or (module.SURFACE,)
        for surface in declared:
            if surface.name in found:
                raise ValueError(f"surface {surface.name!r} is declared twice ({name})")
            found[surface.name] = surface
    return found


def surfaces() -> dict[str, Surface]:
    """Every surface by name, in declaration order."""
    return {**_loaded(), **_registered}


def register(surface: Surface) -> Surface:
    """Serve one more surface in this process (tests; plug-ins use the setting)."""
    _registered[surface.name] = surface
    return surface


def unregister(name: str) -> None:
    """Forget a surface added by :func:`register`."""
    _registered.pop(name, None)


def get_surface(name: str) -> Surface:
    """The surface called ``name``, or ValidationError naming the known ones."""
    known = surfaces()
    if name not in known:
        raise ValidationError(
            f"Unknown surface {name!r}. Must be one of: {', '.join(known)}", field="surface"
        )
    return known[name]


def surface_for_path(path: str) -> Surface:
    """The surface a request path belongs to (the longest base path that owns it)."""
    owners = [s for s in surfaces().values() if s.owns(path)]
    if not owners:
        for prefix, name in BORROWED_SHAPES.items():
            if path.startswith(prefix):
                return get_surface(name)
        return get_surface(FALLBACK)
    return max(owners, key=lambda s: len(s.base_path))
