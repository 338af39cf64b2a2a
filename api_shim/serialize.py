"""Small serialisation helpers shared by the surfaces (declared in ``surfaces.base``)."""

from __future__ import annotations

from surfaces.base import iso

__all__ = ["iso"]
