"""Surfaces: the public API dialects, each declared in one module (see ``surfaces.base``)."""
