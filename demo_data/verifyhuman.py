"""VerifyHuman demo rows: one verification attempt per row of ``verification_events``."""

from __future__ import annotations

import random
from collections.abc import Iterator

import polars as pl

from demo_data.accounts import DEMO_ACCOUNTS, activity_weights
from demo_data.random_columns import (
    ROW,
    RandomStreams,
    batch_bounds,
    case_of,
    pick,
    pick_in_groups,
    pick_index,
    pick_weighted,
    row_frame,
)
from demo_data.schema import VERIFICATION_OUTCOMES, verification_events
from demo_data.timeline import BUSINESS_HOURS, Timeline, Window

COUNTRY_WEIGHTS = {
    "US": 24, "GB": 9, "DE": 9, "FR": 7, "BR": 7, "IN": 8, "CA": 5, "ES": 4,
    "IT": 4, "NL": 3, "PL": 3, "MX": 4, "JP": 4, "AU": 4, "NG": 5,
}  # fmt: skip
PRODUCT_WEIGHTS = {"captcha": 45, "liveness": 25, "document": 18, "age-estimation": 12}
OUTCOME_WEIGHTS = {"passed": 80, "failed": 8, "challenged": 9, "error": 3}
TEST_SHARE = {"free": 0.35, "starter": 0.20, "growth": 0.15, "pro": 0.12, "enterprise": 0.10}
LATENCY_MEDIAN_MS = {"captcha": 190, "liveness": 420, "document": 650, "age-estimation": 380}
LATENCY_FLOOR_MS = 70
V21_CREDITS = {"captcha": 1.0, "liveness": 1.5, "document": 2.5, "age-estimation": 2.0}


def api_keys(seed: int) -> list[tuple[str, ...]]:
    """API keys per (account, env) group ``2 * account_index + env_index``: 3–6 per account."""
    rng = random.Random(f"{seed}:api_keys")
    groups: list[tuple[str, ...]] = []
    for _account in DEMO_ACCOUNTS:
        total = rng.randint(3, 6)
        test = 1 if total < 5 else 2
        for env, count in (("live", total - test), ("test", test)):
            groups.append(tuple(f"key_{env}_{rng.getrandbits(64):016x}" for _ in range(count)))
    return groups


def widgets(seed: int) -> list[tuple[str, ...]]:
    """Widget ids per account (in ``DEMO_ACCOUNTS`` order): 2–5 each."""
    rng = random.Random(f"{seed}:widgets")
    return [
        tuple(f"wdg_{rng.getrandbits(48):012x}" for _ in range(rng.randint(2, 5)))
        for _account in DEMO_ACCOUNTS
    ]


def verification_batches(
    seed: int, total: int, window: Window, batch_rows: int
) -> Iterator[pl.DataFrame]:
    """The ``total`` verification events, ``batch_rows`` at a time, in id order."""
    timeline = Timeline(window, BUSINESS_HOURS, seed, total)
    keys, wdgs = api_keys(seed), widgets(seed)
    for lo, hi in batch_bounds(total, batch_rows):
        yield events_frame(seed, window, timeline, keys, wdgs, lo, hi)


def events_frame(
    seed: int,
    window: Window,
    timeline: Timeline,
    keys: list[tuple[str, ...]],
    wdgs: list[tuple[str, ...]],
    lo: int,
    hi: int,
) -> pl.DataFrame:
    """Verification events for table rows ``lo``..``hi - 1`` (ids ``lo + 1``..``hi``)."""
    r = RandomStreams(seed, verification_events.name)
    test_share = [TEST_SHARE[a.plan] for a in DEMO_ACCOUNTS]
    account = pl.col("_account")
    outcome, product = pl.col("outcome"), pl.col("product")
    u_risk, u_conf = r.uniform("risk"), r.uniform("confidence")
    frame = row_frame(lo, hi).with_columns(
        _account=pick_index(r.uniform("account"), activity_weights()),
        _offset=timeline.offset_seconds(r.uniform("time")),
        product=pick_weighted(r.uniform("product"), PRODUCT_WEIGHTS),
        outcome=pick(
            r.uniform("outcome"),
            VERIFICATION_OUTCOMES,
            [OUTCOME_WEIGHTS[o] for o in VERIFICATION_OUTCOMES],
        ),
        country=pick_weighted(r.uniform("country"), COUNTRY_WEIGHTS),
    )
    frame = frame.with_columns(
        _test=r.uniform("env") < pl.lit(pl.Series(test_share)).gather(account),
        _progress=pl.col("_offset") / window.seconds,
    )
    # v2.1 adoption grows over the window; developers try it first in test.
    v21_share = 0.25 + 0.55 * pl.col("_progress") + pl.when(pl.col("_test")).then(0.1).otherwise(0)
    above_floor = (
        product.replace_strict(LATENCY_MEDIAN_MS, return_dtype=pl.Float64) - LATENCY_FLOOR_MS
    )
    frame = frame.with_columns(
        id=pl.col(ROW) + 1,
        account_id=pl.lit(pl.Series([a.id for a in DEMO_ACCOUNTS])).gather(account),
        env=pl.when(pl.col("_test")).then(pl.lit("test")).otherwise(pl.lit("live")),
        created_at=window.timestamp(pl.col("_offset")),
        api_key_id=pick_in_groups(
            account * 2 + pl.col("_test").cast(pl.Int64), r.uniform("api_key"), keys, skew=2.0
        ),
        widget_id=pick_in_groups(account, r.uniform("widget"), wdgs, skew=1.6),
        risk_score=case_of(
            outcome,
            {
                "passed": 40.0 * u_risk.pow(1.5),
                "challenged": 35.0 + 40.0 * u_risk,
                "failed": 60.0 + 40.0 * u_risk.sqrt(),
                "error": 100.0 * u_risk,
            },
            pl.lit(None, pl.Float64),
        ).round(2),
        confidence=case_of(
            outcome,
            {
                "passed": 0.85 + 0.15 * u_conf,
                "challenged": 0.45 + 0.40 * u_conf,
                "failed": 0.70 + 0.29 * u_conf,
                "error": 0.50 * u_conf,
            },
            pl.lit(None, pl.Float64),
        ).round(3),
        latency_ms=(LATENCY_FLOOR_MS + (above_floor.log() + 0.7 * r.normal("latency")).exp())
        .clip(80, 3000)
        .round()
        .cast(pl.Int64),
        api_version=pl.when(r.uniform("api_version") < v21_share)
        .then(pl.lit("v2.1"))
        .otherwise(pl.lit("v1")),
    )
    frame = frame.with_columns(
        credits=pl.when(pl.col("api_version") == "v1")
        .then(1.0)
        .otherwise(product.replace_strict(V21_CREDITS, return_dtype=pl.Float64))
    )
    return frame.select(verification_events.columns.keys())
