"""Domain errors. Each surface maps them to its own error shape in one place.

ExportError
├── ValidationError          bad request: names the offending field
│   └── UnknownReportError   report type not in the surface's catalog
├── NotFoundError            job or file does not exist (or is not yours)
├── ForbiddenError           the caller's plan may not do this
├── ConflictError            the request collides with one still being processed
├── KeyReusedError           an idempotency key sent again with another request
├── ServiceUnavailableError  a part we depend on (Prefect, the job store) cannot be reached
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


class ForbiddenError(ExportError):
    """The caller may not do this (its plan does not include exports, for instance)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConflictError(ExportError):
    """The request collides with another that is still being processed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeyReusedError(ExportError):
    """An idempotency key came back with a request other than the one it was first sent with."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServiceUnavailableError(ExportError):
    """A part the service depends on cannot be reached now; try again shortly."""


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


# What a client reads of a failed export: by kind, never the text of the exception (it
# names internal hosts, SQL and classes; operators find it in the job's error_detail and
# in the flow run's logs). Bad input is the client's own and is said as it is.
PUBLIC_MESSAGES: tuple[tuple[type[ExportError], str], ...] = (
    (TransientSourceError, "The report's data source was unavailable; please try again"),
    (QueryError, "The report's data source could not answer the report's query"),
    (PlanError, "The export could not be planned"),
    (RenderError, "The file could not be rendered"),
    (TransientStorageError, "The file could not be stored; please try again"),
    (StorageError, "The file could not be stored"),
)
EXPORT_FAILED = "The export failed"


def public_message(exc: BaseException | None) -> str:
    """A client-safe sentence for why an export failed."""
    if isinstance(exc, ValidationError):
        return exc.message
    for kind, message in PUBLIC_MESSAGES:
        if isinstance(exc, kind):
            return message
    return EXPORT_FAILED
