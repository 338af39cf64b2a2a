"""Domain errors. Each surface maps them to its own error shape in one place.

ExportError
├── ValidationError          bad request: names the offending field
│   └── UnknownReportError   report type not in the surface's catalog
├── NotFoundError            job or file does not exist (or is not yours)
├── PlanError                the request cannot be split into chunks
├── QueryError               the source query failed
│   └── TransientSourceError lost connection, locked database: worth a retry
├── RenderError              the file could not be rendered
└── StorageError             staging or publishing failed
    └── TransientStorageError
"""

from __future__ import annotations


class ExportError(Exception):
    """Root of every error this project raises on purpose."""


class ValidationError(ExportError):
    """The request is malformed; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnknownReportError(ValidationError):
    """The report type is not in the catalog of the surface that was asked."""


class NotFoundError(ExportError):
    """The job or its file does not exist for this caller."""


class PlanError(ExportError):
    """Planning the chunks of an export failed."""


class QueryError(ExportError):
    """A source query failed for a reason a retry will not fix."""


class TransientSourceError(QueryError):
    """A source query failed for a reason a retry may fix."""


class RenderError(ExportError):
    """Rendering the output file failed."""


class StorageError(ExportError):
    """Reading or writing staging or published files failed."""


class TransientStorageError(StorageError):
    """A storage hiccup that a retry may fix."""


def is_transient(exc: BaseException) -> bool:
    """True when an error is worth retrying (used by Prefect's retry_condition_fn)."""
    return isinstance(exc, TransientSourceError | TransientStorageError)
