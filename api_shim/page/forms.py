"""The new-export form, generated from a report's parameters model (its JSON Schema).

Each property becomes a field with an input type for what it takes: dates, instants,
choices from an enum, numbers with their bounds, yes/no, one value or a comma-separated
list, text. Nested models (HiEnergy's ``search_params`` / ``index_params``) become groups.
Submitted values go to the catalog as text, which validates them exactly as it validates
the API's JSON; only the shapes a form cannot send (a list, an instant's zone) are made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from catalog.base import ReportSpec

Kind = Literal["date", "datetime", "select", "boolean", "number", "integer", "list", "text"]

WORDS = {
    "q": "Search text",
    "sort": "Sort by",
    "id": "ID",
    "epc": "EPC",
    "pct": "(%)",
    "env": "Environment",
    "min": "Minimum",
    "max": "Maximum",
}
GROUP_LEGENDS = {"search_params": "Filters", "index_params": "Sort"}
LIST_HINT = "One value, or several separated by commas"
_LOCAL_MINUTES = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


@dataclass(frozen=True)
class FormField:
    """One input of the form; ``name`` is its path in the request body (``a.b``)."""

    name: str
    label: str
    kind: Kind
    required: bool
    choices: tuple[str, ...] = ()
    default: str = ""
    minimum: str | None = None
    maximum: str | None = None
    max_length: int | None = None
    hint: str = ""

    @property
    def html_id(self) -> str:
        """A DOM id made of the name."""
        return "f-" + self.name.replace(".", "-").replace("_", "-")


@dataclass(frozen=True)
class FieldGroup:
    """Fields shown together; nested parameter models have a legend."""

    legend: str | None
    fields: tuple[FormField, ...] = field(default_factory=tuple)


def label_of(name: str) -> str:
    """``min_discount_pct`` → ``Minimum discount (%)``."""
    words = [WORDS.get(w, w) for w in name.split("_") if w]
    text = " ".join(words) or name
    return text[0].upper() + text[1:]


def _resolve(schema: dict[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = {
            **defs[schema["$ref"].rsplit("/", 1)[-1]],
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    return schema


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a property."""
    alternatives = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return [a for a in alternatives if a.get("type") != "null"]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field(name: str, path: str, schema: dict[str, Any], required: bool) -> FormField:
    options = _options(schema)
    default = _text(schema.get("default"))
    common: dict[str, Any] = {"name": path, "label": label_of(name), "required": required}
    first = options[0] if options else {}
    if any(o.get("type") == "array" for o in options):
        longest = first.get("maxLength")
        return FormField(
            kind="list",
            hint=LIST_HINT,
            max_length=None if longest is None else longest * 50 + 49,
            default=default,
            **common,
        )
    if "enum" in first:
        return FormField(
            kind="select", choices=tuple(_text(c) for c in first["enum"]), default=default, **common
        )
    kind = first.get("type")
    if kind == "boolean":
        return FormField(kind="boolean", choices=("true", "false"), default=default, **common)
    if kind in ("number", "integer"):
        low = first.get("minimum", first.get("exclusiveMinimum"))
        high = first.get("maximum", first.get("exclusiveMaximum"))
        return FormField(
            kind="integer" if kind == "integer" else "number",
            minimum=None if low is None else _text(low),
            maximum=None if high is None or abs(high) > 2**53 else _text(high),
            default=default,
            **common,
        )
    fmt = first.get("format")
    if fmt == "date":
        return FormField(kind="date", default=default, **common)
    if fmt == "date-time":
        common["label"] += " (UTC)"
        return FormField(kind="datetime", default=default, **common)
    return FormField(kind="text", max_length=first.get("maxLength"), default=default, **common)


def form_of(report: ReportSpec) -> list[FieldGroup]:
    """The groups of fields of a report's parameters."""
    schema = report.params_model.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    top: list[FormField] = []
    groups: list[FieldGroup] = []
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(prop, defs)
        required = name in schema.get("required", ())
        if prop.get("type") == "object" and "properties" in prop:
            inner = [
                _field(n, f"{name}.{n}", _resolve(p, defs), n in prop.get("required", ()))
                for n, p in prop["properties"].items()
            ]
            groups.append(FieldGroup(GROUP_LEGENDS.get(name, label_of(name)), tuple(inner)))
        else:
            top.append(_field(name, name, prop, required))
    return ([FieldGroup(None, tuple(top))] if top else []) + groups


def all_fields(groups: list[FieldGroup]) -> list[FormField]:
    """Every field of the groups, in order."""
    return [f for g in groups for f in g.fields]


def request_params(groups: list[FieldGroup], form: Mapping[str, str]) -> dict[str, Any]:
    """The request body of submitted form values: empty means not given."""
    body: dict[str, Any] = {}
    for spec in all_fields(groups):
        raw = form.get(spec.name, "").strip()
        if not raw:
            continue
        value: Any = raw
        if spec.kind == "list":
            parts = [p.strip() for p in raw.split(",")]
            value = parts if len(parts) > 1 else parts[0]
        elif spec.kind == "datetime" and _LOCAL_MINUTES.fullmatch(raw):
            value = raw + ("Z" if raw.count(":") == 2 else ":00Z")
        target = body
        *outer, last = spec.name.split(".")
        for part in outer:
            target = target.setdefault(part, {})
        target[last] = value
    return body


def placed_errors(
    errors: Mapping[str, str], shown: set[str]
) -> tuple[dict[str, str], list[str], list[tuple[str | None, str]]]:
    """Errors beside the fields the form shows, the others above it, and the summary.

    The summary lists the ones above first, then each field's with the id of its input
    (``f-<name>``), so a link in it moves the focus to the field.
    """
    beside = {k: v for k, v in errors.items() if k in shown}
    above = [v for k, v in errors.items() if k not in shown]
    linked = [(f"f-{k.replace('.', '-').replace('_', '-')}", v) for k, v in beside.items()]
    summary: list[tuple[str | None, str]] = [(None, v) for v in above]
    return beside, above, summary + linked


def input_value(spec: FormField, value: str) -> str:
    """What an input shows for a submitted or default value (an instant without its Z)."""
    if spec.kind == "datetime" and value.endswith("Z"):
        return value.removesuffix("Z")[:19]
    return value
