"""Add-on parts of the page: every module here with a ``router`` is mounted under ``/ui``.

A module may also declare ``NAV = ("Label", "/path")`` to get a link in the main
navigation. It builds its pages with ``api_shim.page.deps`` (``VisitorDep`` for the
signed-in visitor, ``checked_form`` for the CSRF check of every POST, ``render`` with its
own templates in ``api_shim/page/templates/``).

``ADMIN_ONLY = True`` shows the link to admins only (the module refuses members itself).
``schedules.py`` (#16) lists, creates, pauses, resumes and deletes an account's schedules
through the schedules service.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def modules() -> list[ModuleType]:
    """Every section module, in name order."""
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
    ]
