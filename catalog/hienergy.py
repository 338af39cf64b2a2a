"""HiEnergy generative exports: advertisers (CSV), deals, hot advertisers, clicks (Excel).

``search_params`` filter and ``index_params`` sort, in the spirit of the /reports UI.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl
from pydantic import Field, create_model, model_validator
from sqlalchemy import Select, select

from catalog.base import Measure, ReportParams, ReportSpec, SectionSpec, SortKey
from catalog.chunks import day_start
from catalog.documents import ColumnKind, ColumnSpec
from catalog.fields import BIGINT_MAX, EARLIEST, LATEST, SourceId, StrictDate
from catalog.filters import OneOrMany, all_of, contains, one_of
from catalog.sources import advertisers as adv
from catalog.sources import clicks, deals

K = ColumnKind


class Search(ReportParams):
    """Base of the search_params models."""


class DateRangeSearch(Search):
    """Optional inclusive date range."""

    from_: StrictDate | None = Field(None, alias="from")
    to: StrictDate | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DateRangeSearch:
        if self.from_ and self.to and self.to < self.from_:
            raise ValueError("'to' must not be before 'from'")
        return self


class AdvertiserSearch(Search):
    q: str | None = Field(None, min_length=1, max_length=200)
    category: OneOrMany | None = None
    country: OneOrMany | None = None
    network: OneOrMany | None = None
    status: Literal["active", "paused", "pending"] | None = None
    min_epc: float | None = Field(None, ge=0)


class DealSearch(Search):
    q: str | None = Field(None, min_length=1, max_length=200)
    advertiser_id: SourceId | None = None
    category: OneOrMany | None = None
    exclusive: bool | None = None
    active_on: StrictDate | None = None
    min_discount_pct: float | None = Field(None, ge=0, le=100)


class HotSearch(DateRangeSearch):
    category: OneOrMany | None = None
    country: OneOrMany | None = None
    device: Literal["desktop", "mobile", "tablet"] | None = None
    min_clicks: int = Field(1, ge=0, le=BIGINT_MAX)
    limit: int = Field(100, ge=1, le=10_000)


class ClickSearch(DateRangeSearch):
    advertiser_id: SourceId | None = None
    deal_id: SourceId | None = None
    country: OneOrMany | None = None
    device: Literal["desktop", "mobile", "tablet"] | None = None
    converted: bool | None = None


def _params_model(
    name: str,
    search: type[Search],
    sortable: tuple[str, ...],
    default_sort: str,
    default_order: str,
) -> type[ReportParams]:
    index = create_model(  # type: ignore[call-overload]
        f"{name}Index",
        __base__=ReportParams,
        sort=(Literal[sortable], default_sort),  # type: ignore[valid-type,arg-type]
        order=(Literal["asc", "desc"], default_order),  # type: ignore[arg-type,maybe-unrecognized-str-typeform]
    )

    def window(self: Any) -> tuple[datetime, datetime] | None:
        s = self.search_params
        if not isinstance(s, DateRangeSearch) or not (s.from_ or s.to):
            return None
        # An open end is the span a request may name, not the end of the calendar.
        start = day_start(s.from_ or EARLIEST)
        end = day_start((s.to or LATEST) + timedelta(days=1))
        return start, end

    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{name}Params",
        __base__=ReportParams,
        __namespace__={"window": window},
        search_params=(search, search()),
        index_params=(index, index()),
    )


def _order(p: Any) -> tuple[SortKey, ...]:
    return (SortKey(p.index_params.sort, p.index_params.order == "desc"),)


ADV_COLUMNS = (
    ColumnSpec("id", "Advertiser ID", K.INTEGER),
    ColumnSpec("name", "Name"),
    ColumnSpec("domain", "Domain"),
    ColumnSpec("category", "Category"),
    ColumnSpec("country", "Country"),
    ColumnSpec("network", "Network"),
    ColumnSpec("status", "Status"),
    ColumnSpec("commission_rate", "Commission rate", K.PERCENT),
    ColumnSpec("epc", "EPC", K.FLOAT),
    ColumnSpec("created_at", "Created at (UTC)", K.DATETIME),
)
AdvertisersParams = _params_model(
    "Advertisers", AdvertiserSearch, tuple(c.name for c in ADV_COLUMNS), "id", "asc"
)


def _advertisers_query(p: Any, account_id: int) -> Select[Any]:
    s: AdvertiserSearch = p.search_params
    return select(*(adv.c[c.name] for c in ADV_COLUMNS)).where(
        all_of(
            adv.c.account_id == account_id,
            contains(adv.c.name, s.q) | contains(adv.c.domain, s.q) if s.q else None,
            one_of(adv.c.category, s.category) if s.category else None,
            one_of(adv.c.country, s.country) if s.country else None,
            one_of(adv.c.network, s.network) if s.network else None,
            adv.c.status == s.status if s.status else None,
            adv.c.epc >= s.min_epc if s.min_epc is not None else None,
        )
    )


DEAL_COLUMNS = (
    ColumnSpec("id", "Deal ID", K.INTEGER),
    ColumnSpec("advertiser_id", "Advertiser ID", K.INTEGER),
    ColumnSpec("advertiser_name", "Advertiser"),
    ColumnSpec("title", "Title"),
    ColumnSpec("code", "Code"),
    ColumnSpec("category", "Category"),
    ColumnSpec("discount_pct", "Discount %", K.FLOAT),
    ColumnSpec("starts_at", "Starts (UTC)", K.DATETIME),
    ColumnSpec("ends_at", "Ends (UTC)", K.DATETIME),
    ColumnSpec("exclusive", "Exclusive", K.BOOLEAN),
)
DealsParams = _params_model("Deals", DealSearch, tuple(c.name for c in DEAL_COLUMNS), "id", "asc")


def _deals_query(p: Any, account_id: int) -> Select[Any]:
    s: DealSearch = p.search_params
    day = day_start(s.active_on) if s.active_on else None
    return (
        select(
            deals.c.id,
            deals.c.advertiser_id,
            adv.c.name.label("advertiser_name"),
            deals.c.title,
            deals.c.code,
            deals.c.category,
            deals.c.discount_pct,
            deals.c.starts_at,
            deals.c.ends_at,
            deals.c.exclusive,
        )
        .select_from(deals.join(adv, adv.c.id == deals.c.advertiser_id))
        .where(
            all_of(
                deals.c.account_id == account_id,
                contains(deals.c.title, s.q) if s.q else None,
                deals.c.advertiser_id == s.advertiser_id if s.advertiser_id else None,
                one_of(deals.c.category, s.category) if s.category else None,
                deals.c.exclusive == s.exclusive if s.exclusive is not None else None,
                (deals.c.starts_at < day + timedelta(days=1)) & (deals.c.ends_at >= day)
                if day
                else None,
                deals.c.discount_pct >= s.min_discount_pct
                if s.min_discount_pct is not None
                else None,
            )
        )
    )


HOT_COLUMNS = (
    ColumnSpec("advertiser_id", "Advertiser ID", K.INTEGER),
    ColumnSpec("advertiser_name", "Advertiser"),
    ColumnSpec("category", "Category"),
    ColumnSpec("clicks", "Clicks", K.INTEGER),
    ColumnSpec("conversions", "Conversions", K.INTEGER),
    ColumnSpec("conversion_rate", "Conversion rate", K.PERCENT),
    ColumnSpec("revenue", "Revenue", K.FLOAT),
    ColumnSpec("epc", "EPC", K.FLOAT),
)
HotParams = _params_model(
    "HotAdvertisers",
    HotSearch,
    ("clicks", "conversions", "conversion_rate", "revenue", "epc", "advertiser_name"),
    "clicks",
    "desc",
)

HOT = SectionSpec(
    name="hot",
    title="Hot advertisers",
    keys=("advertiser_id", "advertiser_name", "category"),
    measures=(
        Measure("clicks", "count"),
        Measure("conversions", "sum", pl.col("converted")),
        Measure("revenue", "sum", pl.col("revenue")),
    ),
    columns=HOT_COLUMNS,
    finish=lambda f: f.with_columns(
        (pl.col("conversions") / pl.col("clicks")).alias("conversion_rate"),
        (pl.col("revenue") / pl.col("clicks")).round(4).alias("epc"),
        pl.col("revenue").round(2),
    ),
)


def _refine_hot(p: Any, frame: pl.DataFrame) -> pl.DataFrame:
    s: HotSearch = p.search_params
    key = _order(p)[0]
    return (
        frame.filter(pl.col("clicks") >= s.min_clicks)
        .sort([key.column, "advertiser_id"], descending=[key.descending, False])
        .head(s.limit)
    )


def _clicks_base(p: Any, account_id: int) -> Any:
    s = p.search_params
    return all_of(
        clicks.c.account_id == account_id,
        one_of(clicks.c.country, s.country) if s.country else None,
        clicks.c.device == s.device if s.device else None,
    )


def _hot_query(p: Any, account_id: int) -> Select[Any]:
    s: HotSearch = p.search_params
    return (
        select(
            clicks.c.clicked_at,
            clicks.c.advertiser_id,
            adv.c.name.label("advertiser_name"),
            adv.c.category,
            clicks.c.converted,
            clicks.c.revenue,
        )
        .select_from(clicks.join(adv, adv.c.id == clicks.c.advertiser_id))
        .where(
            _clicks_base(p, account_id),
            one_of(adv.c.category, s.category) if s.category else all_of(),
        )
    )


CLICK_COLUMNS = (
    ColumnSpec("id", "Click ID", K.INTEGER),
    ColumnSpec("clicked_at", "Clicked at (UTC)", K.DATETIME),
    ColumnSpec("advertiser_id", "Advertiser ID", K.INTEGER),
    ColumnSpec("advertiser_name", "Advertiser"),
    ColumnSpec("deal_id", "Deal ID", K.INTEGER),
    ColumnSpec("deal_title", "Deal"),
    ColumnSpec("country", "Country"),
    ColumnSpec("device", "Device"),
    ColumnSpec("sub_id", "Sub ID"),
    ColumnSpec("converted", "Converted", K.BOOLEAN),
    ColumnSpec("revenue", "Revenue", K.FLOAT),
)
ClicksParams = _params_model(
    "Clicks", ClickSearch, ("clicked_at", "id", "revenue", "advertiser_name"), "clicked_at", "asc"
)


def _clicks_query(p: Any, account_id: int) -> Select[Any]:
    s: ClickSearch = p.search_params
    return (
        select(
            clicks.c.id,
            clicks.c.clicked_at,
            clicks.c.advertiser_id,
            adv.c.name.label("advertiser_name"),
            clicks.c.deal_id,
            deals.c.title.label("deal_title"),
            clicks.c.country,
            clicks.c.device,
            clicks.c.sub_id,
            clicks.c.converted,
            clicks.c.revenue,
        )
        .select_from(
            clicks.join(adv, adv.c.id == clicks.c.advertiser_id).outerjoin(
                deals, deals.c.id == clicks.c.deal_id
            )
        )
        .where(
            _clicks_base(p, account_id),
            all_of(
                clicks.c.advertiser_id == s.advertiser_id if s.advertiser_id else None,
                clicks.c.deal_id == s.deal_id if s.deal_id else None,
                clicks.c.converted == s.converted if s.converted is not None else None,
            ),
        )
    )


def _schema(columns: tuple[ColumnSpec, ...], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    kinds = {
        K.INTEGER: pl.Int64,
        K.FLOAT: pl.Float64,
        K.PERCENT: pl.Float64,
        K.BOOLEAN: pl.Boolean,
        K.DATETIME: pl.Datetime("us"),
        K.TEXT: pl.String,
    }
    return {c.name: kinds[c.kind] for c in columns} | (extra or {})


REPORTS: tuple[ReportSpec, ...] = (
    ReportSpec(
        surface="hienergy",
        name="advertisers_csv",
        display_name="Advertisers (CSV)",
        description="Advertisers matching the search",
        formats=("csv",),
        params_model=AdvertisersParams,
        chunk_column=adv.c.id,
        chunking="key",
        query=_advertisers_query,
        schema=_schema(ADV_COLUMNS),
        row_columns=ADV_COLUMNS,
        order=_order,
        file_stem="advertisers",
    ),
    ReportSpec(
        surface="hienergy",
        name="deals_excel",
        display_name="Deals (Excel)",
        description="Deals matching the search",
        formats=("xlsx",),
        params_model=DealsParams,
        chunk_column=deals.c.id,
        chunking="key",
        query=_deals_query,
        schema=_schema(DEAL_COLUMNS),
        row_columns=DEAL_COLUMNS,
        order=_order,
        file_stem="deals",
    ),
    ReportSpec(
        surface="hienergy",
        name="hot_advertisers_excel",
        display_name="Hot advertisers (Excel)",
        description="Advertisers ranked by clicks, conversions and revenue",
        formats=("xlsx",),
        params_model=HotParams,
        chunk_column=clicks.c.clicked_at,
        chunking="time",
        query=_hot_query,
        schema=_schema(
            (),
            {
                "clicked_at": pl.Datetime("us"),
                "advertiser_id": pl.Int64,
                "advertiser_name": pl.String,
                "category": pl.String,
                "converted": pl.Int64,
                "revenue": pl.Float64,
            },
        ),
        sections=(HOT,),
        tabular_output="hot",
        refine=_refine_hot,
        file_stem="hot-advertisers",
    ),
    ReportSpec(
        surface="hienergy",
        name="clicks_details_excel",
        display_name="Click details (Excel)",
        description="Every click with its deal",
        formats=("xlsx",),
        params_model=ClicksParams,
        chunk_column=clicks.c.clicked_at,
        chunking="time",
        tie_breaker=clicks.c.id,
        query=_clicks_query,
        schema=_schema(CLICK_COLUMNS),
        row_columns=CLICK_COLUMNS,
        order=_order,
        file_stem="click-details",
    ),
)
