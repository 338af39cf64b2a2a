"""Webhook demo rows: each project's message log, with UUIDv7 ids that carry ``created_at``."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

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
from demo_data.schema import WEBHOOK_STATUSES, webhook_messages
from demo_data.timeline import BUSINESS_HOURS, Timeline, Window

OUTBOUND_SHARE = 0.8
EVENT_TYPES = {
    "payment.succeeded": 16, "invoice.paid": 14, "invoice.created": 12, "customer.updated": 10,
    "customer.created": 8, "order.created": 8, "subscription.updated": 7, "order.shipped": 6,
    "subscription.created": 6, "payment.failed": 4, "invoice.payment_failed": 3,
    "subscription.cancelled": 3, "refund.issued": 3,
}  # fmt: skip
STATUS_WEIGHTS = {"pending": 3, "delivered": 82, "retrying": 4, "failed": 7, "failed_permanent": 4}
RESPONSES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {  # (codes, weights)
    "delivered": ((200, 202, 204, 201), (86, 7, 5, 2)),
    "retrying": ((500, 502, 503, 504, 429), (30, 25, 25, 10, 10)),
    "failed": ((400, 401, 403, 404, 410, 422), (25, 15, 10, 25, 10, 15)),
    "failed_permanent": ((500, 502, 503, 504, 410), (35, 20, 25, 15, 5)),
}
MAX_ATTEMPTS = 5
BACKOFF_TOTAL_S = (0, 0, 30, 90, 210, 450)  # seconds from first to last attempt, by attempts
EPOCH = datetime(1970, 1, 1)
INBOUND_CREATED_MS = (1_735_689_600_000, 1_751_328_000_000)  # 2025-01-01 .. 2025-07-01
_HEX4 = pl.Series([f"{n:04x}" for n in range(1 << 16)])


def uuid7(unix_ms: int, rand_a: int, rand_b: int) -> str:
    """RFC 9562 UUIDv7 text from a Unix time in ms and 12 + 62 random bits."""
    value = (unix_ms & (1 << 48) - 1) << 80 | 0x7 << 76 | (rand_a & 0xFFF) << 64
    return str(uuid.UUID(int=value | 0b10 << 62 | (rand_b & (1 << 62) - 1)))


def uuid7_expr(unix_ms: pl.Expr, rand_a: pl.Expr, rand_b: pl.Expr) -> pl.Expr:
    """Vectorised :func:`uuid7` over UInt64 columns (same text for the same inputs)."""

    def hex4(value: pl.Expr, shift: int) -> pl.Expr:
        return pl.lit(_HEX4).gather((value // (1 << shift)) % (1 << 16))

    ms = unix_ms.cast(pl.UInt64)
    a, b = rand_a.cast(pl.UInt64), rand_b.cast(pl.UInt64)
    return pl.concat_str(
        hex4(ms, 32), hex4(ms, 16), pl.lit("-"), hex4(ms, 0), pl.lit("-"),
        hex4(0x7000 + a % (1 << 12), 0), pl.lit("-"),
        hex4(0x8000 + (b // (1 << 48)) % (1 << 14), 0), pl.lit("-"),
        hex4(b, 32), hex4(b, 16), hex4(b, 0),
    )  # fmt: skip


def endpoints(seed: int) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """Per account: outbound endpoint UUIDs (3–6) and inbound endpoint UUIDv7s (1–3)."""
    rng = random.Random(f"{seed}:endpoints")
    outbound: list[tuple[str, ...]] = []
    inbound: list[tuple[str, ...]] = []
    for _account in DEMO_ACCOUNTS:
        count = rng.randint(3, 6)
        outbound.append(
            tuple(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count))
        )
        count = rng.randint(1, 3)
        inbound.append(tuple(_inbound_endpoint_id(rng) for _ in range(count)))
    return outbound, inbound


def _inbound_endpoint_id(rng: random.Random) -> str:
    created_ms = rng.randrange(*INBOUND_CREATED_MS)
    return uuid7(created_ms, rng.getrandbits(12), rng.getrandbits(62))


def message_count(rows: int) -> int:
    """Webhook messages for ``rows`` verification events."""
    return max(500, rows // 2)


def message_batches(
    seed: int, total: int, window: Window, batch_rows: int
) -> Iterator[pl.DataFrame]:
    """The ``total`` messages, ``batch_rows`` at a time, in ``seq`` order."""
    timeline = Timeline(window, BUSINESS_HOURS, seed + 2, total)
    outbound, inbound = endpoints(seed)
    for lo, hi in batch_bounds(total, batch_rows):
        yield messages_frame(seed, window, timeline, outbound, inbound, lo, hi)


def _attempts(status: pl.Expr, u: pl.Expr) -> pl.Expr:
    one = pl.lit(1, pl.Int64)
    by_status = {
        "pending": pl.lit(0, pl.Int64),
        "delivered": one + (u < 0.12).cast(pl.Int64) + (u < 0.04).cast(pl.Int64),
        "retrying": one + (u * 4).floor().cast(pl.Int64),
        "failed": one + (u * 3).floor().cast(pl.Int64),
    }
    return case_of(status, by_status, pl.lit(MAX_ATTEMPTS, pl.Int64))


def _response_status(status: pl.Expr, u: pl.Expr) -> pl.Expr:
    by_status = {
        name: pick(u, codes, weights).cast(pl.Int64) for name, (codes, weights) in RESPONSES.items()
    }
    return case_of(status, by_status, pl.lit(None, pl.Int64))  # pending: no response yet


def messages_frame(
    seed: int,
    window: Window,
    timeline: Timeline,
    outbound: list[tuple[str, ...]],
    inbound: list[tuple[str, ...]],
    lo: int,
    hi: int,
) -> pl.DataFrame:
    """Messages for table rows ``lo``..``hi - 1`` (``seq`` ``lo + 1``..``hi``)."""
    r = RandomStreams(seed, webhook_messages.name)
    account, is_outbound = pl.col("_account"), pl.col("_outbound")
    status, attempts = pl.col("status"), pl.col("attempts")
    frame = row_frame(lo, hi).with_columns(
        _account=pick_index(r.uniform("account"), activity_weights()),
        _offset=timeline.offset_seconds(r.uniform("time")),
        _outbound=r.uniform("direction") < OUTBOUND_SHARE,
        event_type=pick_weighted(r.uniform("event_type"), EVENT_TYPES),
        status=pick(
            r.uniform("status"), WEBHOOK_STATUSES, [STATUS_WEIGHTS[s] for s in WEBHOOK_STATUSES]
        ),
    )
    second = pl.col("_offset").floor()
    # The id's millisecond is built on created_at's whole second, so the two always agree.
    unix_ms = (second * 1000 + ((pl.col("_offset") - second) * 1000).floor().clip(0, 999)).cast(
        pl.UInt64
    ) + (window.start_at - EPOCH) // timedelta(milliseconds=1)
    frame = frame.with_columns(
        id=uuid7_expr(unix_ms, r.bits("uuid_a"), r.bits("uuid_b")),
        seq=pl.col(ROW) + 1,
        account_id=pl.lit(pl.Series([a.id for a in DEMO_ACCOUNTS])).gather(account),
        project_id=pl.lit(pl.Series([a.project_id for a in DEMO_ACCOUNTS])).gather(account),
        direction=pl.when(is_outbound).then(pl.lit("outbound")).otherwise(pl.lit("inbound")),
        endpoint_id=pl.when(is_outbound).then(
            pick_in_groups(account, r.uniform("ep"), outbound, 1.5)
        ),
        inbound_endpoint_id=pl.when(~is_outbound).then(
            pick_in_groups(account, r.uniform("inbound_ep"), inbound, 1.5)
        ),
        created_at=window.timestamp(pl.col("_offset")),
        attempts=_attempts(status, r.uniform("attempts")),
        response_status=_response_status(status, r.uniform("response")),
    )
    delay = (
        (r.uniform("first_attempt") * 4).floor()
        + pl.lit(pl.Series(BACKOFF_TOTAL_S, dtype=pl.Float64)).gather(attempts)
        + pl.when(attempts > 1).then((r.uniform("jitter") * 10).floor()).otherwise(0.0)
    )
    frame = frame.with_columns(
        last_attempt_at=pl.when(attempts > 0).then(window.timestamp(second + delay))
    )
    return frame.select(webhook_messages.columns.keys())
