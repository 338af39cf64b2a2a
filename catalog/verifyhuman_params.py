"""VerifyHuman's request parameters: an environment and an inclusive date range."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import Field, model_validator

from catalog.base import ReportParams
from catalog.chunks import day_start
from catalog.fields import StrictDate


class VerifyHumanParams(ReportParams):
    """Seed parameters: environment and an inclusive date range."""

    env: Literal["test", "live"]
    from_: StrictDate = Field(alias="from")
    to: StrictDate

    @model_validator(mode="after")
    def _ordered(self) -> VerifyHumanParams:
        if self.to < self.from_:
            raise ValueError("'to' must not be before 'from'")
        return self

    def window(self) -> tuple[datetime, datetime]:
        """Whole days from ``from`` through ``to``."""
        return day_start(self.from_), day_start(self.to + timedelta(days=1))

    @property
    def days(self) -> int:
        """Number of days in the range, both ends included."""
        return (self.to - self.from_).days + 1


def period_label(params: VerifyHumanParams) -> str:
    """``2025-12-01 – 2025-12-31 (31 days)``."""
    first: date = params.from_
    return f"{first.isoformat()} – {params.to.isoformat()} ({params.days} days)"
