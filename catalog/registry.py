"""The report catalog of each surface, and validation of export requests against it.

Reports load the same way whoever wrote them: a module with a ``REPORTS`` tuple, named in
``BUILTIN_CATALOG_MODULES`` (the project's own 13 types) or in the setting
``REPORT_EXPORTS_CATALOG_MODULES`` (a team's own package). Each report names the surface
it is offered on; report names are unique across surfaces.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pydantic

from catalog.base import ReportParams, ReportSpec
from report_exports.errors import UnknownReportError, ValidationError
from report_exports.settings import get_settings

BUILTIN_CATALOG_MODULES = ("catalog.verifyhuman", "catalog.hienergy", "catalog.webhooks")

CATALOGS: dict[str, dict[str, ReportSpec]] = {}
"""surface name → report name → report, in load order."""


def add_reports(reports: Iterable[ReportSpec], source: str = "") -> None:
    """Offer more reports (a catalog module's ``REPORTS``); names must stay unique."""
    for report in reports:
        if any(report.name in catalog for catalog in CATALOGS.values()):
            raise ValueError(f"report type {report.name!r} is declared twice {source}".strip())
        CATALOGS.setdefault(report.surface, {})[report.name] = report


def load_catalog_modules(names: Iterable[str]) -> None:
    """Import catalog modules and add their ``REPORTS``."""
    for name in names:
        add_reports(importlib.import_module(name).REPORTS, f"({name})")


load_catalog_modules((*BUILTIN_CATALOG_MODULES, *get_settings().catalog_modules))
FORMATS = ("csv", "xlsx", "pdf")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class ExportRequest:
    """A request that passed validation: the report, its format and typed parameters."""

    report: ReportSpec
    format: str
    params: ReportParams

    def params_json(self) -> dict[str, Any]:
        """Parameters as stored on the job row (aliases, JSON types, defaults filled in)."""
        return self.params.model_dump(mode="json", by_alias=True, exclude_none=True)


def get_report(surface: str, report_type: str) -> ReportSpec:
    """The report of that surface, or UnknownReportError listing the valid ones."""
    catalog = CATALOGS.get(surface, {})
    if report_type not in catalog:
        raise UnknownReportError(
            f"Invalid report_type. Must be one of: {', '.join(catalog)}", field="report_type"
        )
    return catalog[report_type]


def find_report(report_type: str) -> ReportSpec:
    """The report with this name on any surface (report names are unique across surfaces)."""
    for catalog in CATALOGS.values():
        if report_type in catalog:
            return catalog[report_type]
    names = [name for catalog in CATALOGS.values() for name in catalog]
    raise UnknownReportError(
        f"Invalid report_type. Must be one of: {', '.join(names)}", field="report_type"
    )


def parse_params(report: ReportSpec, raw: dict[str, Any]) -> ReportParams:
    """Typed parameters of ``report``, or ValidationError naming the first bad field."""
    try:
        return report.params_model.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise _first_error(exc) from None


def _first_error(exc: pydantic.ValidationError) -> ValidationError:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    field = ".".join(loc) or None
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return ValidationError(f"Unknown filter: {field}", field=field)
    if error["type"] == "missing":
        return ValidationError(f"Missing required field: {field}", field=field)
    rule_field = _range_field(message) if error["type"] == "value_error" else None
    if rule_field is not None and (not loc or loc[-1] != rule_field):
        # A rule of a whole model (a reversed range): name the field that breaks it.
        return ValidationError(message, field=".".join([*loc, rule_field]))
    return ValidationError(f"Invalid {field}: {message}", field=field)


def _range_field(message: str) -> str | None:
    for name in ("end_time", "inbound_endpoint_id", "'to'"):
        if message.startswith(name):
            return name.strip("'")
    return None


def validate_request(
    surface: str, report_type: str, fmt: str | None, params: dict[str, Any]
) -> ExportRequest:
    """Check report type, format and parameters before any job or flow run exists."""
    report = get_report(surface, report_type)
    chosen = report.default_format if fmt is None else fmt
    if chosen not in FORMATS:
        raise ValidationError(
            f"Invalid format. Must be one of: {', '.join(report.formats)}", field="format"
        )
    if chosen not in report.formats:
        raise ValidationError(
            f"Invalid format. {report_type} is available as: {', '.join(report.formats)}",
            field="format",
        )
    return ExportRequest(report=report, format=chosen, params=parse_params(report, params))
