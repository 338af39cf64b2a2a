"""HiEnergy demo clicks: traffic to each account's advertisers and deals, a few converting."""

from __future__ import annotations

import random
from collections.abc import Iterator

import polars as pl

from demo_data.accounts import DEMO_ACCOUNTS, activity_weights
from demo_data.random_columns import (
    ROW,
    RandomStreams,
    batch_bounds,
    pick,
    pick_in_groups,
    pick_index,
    pick_weighted,
    row_frame,
)
from demo_data.schema import clicks
from demo_data.timeline import CONSUMER_HOURS, Timeline, Window
from demo_data.verifyhuman import COUNTRY_WEIGHTS

DEVICES = ("desktop", "mobile", "tablet")
DEVICE_WEIGHTS = (38, 55, 7)
CONVERSION_RATE = {"desktop": 0.065, "mobile": 0.04, "tablet": 0.05}
DEAL_SHARE = 0.75  # clicks that came through a deal rather than a plain link
SUB_ID_SHARE = 0.65
# Publisher-chosen tracking ids: free text, so some are awkward on purpose.
SUB_IDS = ("newsletter", "newsletter-dec", "yt_review_42", "ig_story", "tiktok-01", "blog_top10",
           "coupon-site", "cashback_app", "email,weekly", '"vip" list', "=1+2", "+promo",
           "-retarget", "@partner_feed", "süd-kampagne", "größentabelle", "fb-ads|winter",
           "sid_8842", "sid_9013", "pod:daily-tech")  # fmt: skip


def click_count(rows: int) -> int:
    """Clicks for ``rows`` verification events."""
    return max(500, rows // 2)


def click_batches(
    seed: int, total: int, window: Window, batch_rows: int, adv: pl.DataFrame, deal: pl.DataFrame
) -> Iterator[pl.DataFrame]:
    """The ``total`` clicks, ``batch_rows`` at a time, in id order."""
    rng = random.Random(f"{seed}:clicks")
    by_account: list[list[int]] = []
    for account in DEMO_ACCOUNTS:
        owned = adv.filter(pl.col("account_id") == account.id)["id"].to_list()
        rng.shuffle(owned)  # which advertisers are "hot" is not a matter of their id
        by_account.append(owned)
    deal_ids = deal.group_by("advertiser_id").agg(pl.col("id").sort())
    lookup = dict(zip(deal_ids["advertiser_id"].to_list(), deal_ids["id"].to_list(), strict=True))
    deals_of = [lookup[advertiser_id] for advertiser_id in adv["id"].to_list()]
    commission = adv.sort("id")["commission_rate"]
    timeline = Timeline(window, CONSUMER_HOURS, seed + 1, total)
    for lo, hi in batch_bounds(total, batch_rows):
        yield clicks_frame(seed, window, timeline, by_account, deals_of, commission, lo, hi)


def clicks_frame(
    seed: int,
    window: Window,
    timeline: Timeline,
    by_account: list[list[int]],
    deals_of: list[list[int]],
    commission: pl.Series,
    lo: int,
    hi: int,
) -> pl.DataFrame:
    """Clicks for table rows ``lo``..``hi - 1`` (ids ``lo + 1``..``hi``)."""
    r = RandomStreams(seed, clicks.name)
    rates = [CONVERSION_RATE[d] for d in DEVICES]
    frame = row_frame(lo, hi).with_columns(
        _account=pick_index(r.uniform("account"), activity_weights()),
        _device=pick_index(r.uniform("device"), DEVICE_WEIGHTS),
        _order_value=(60.0 * (0.8 * r.normal("order_value")).exp()).clip(5.0, 1500.0),
    )
    frame = frame.with_columns(
        id=pl.col(ROW) + 1,
        account_id=pl.lit(pl.Series([a.id for a in DEMO_ACCOUNTS])).gather(pl.col("_account")),
        advertiser_id=pick_in_groups(
            pl.col("_account"), r.uniform("advertiser"), by_account, skew=2.2
        ),
        clicked_at=window.timestamp(timeline.offset_seconds(r.uniform("time"))),
        country=pick_weighted(r.uniform("country"), COUNTRY_WEIGHTS),
        device=pl.lit(pl.Series(DEVICES)).gather(pl.col("_device")),
        sub_id=pl.when(r.uniform("has_sub_id") < SUB_ID_SHARE).then(
            pick(r.uniform("sub_id"), SUB_IDS, [1 / (k + 1) for k in range(len(SUB_IDS))])
        ),
        converted=r.uniform("converted") < pl.lit(pl.Series(rates)).gather(pl.col("_device")),
    )
    advertiser_row = pl.col("advertiser_id") - 1
    frame = frame.with_columns(
        deal_id=pl.when(r.uniform("has_deal") < DEAL_SHARE).then(
            pick_in_groups(advertiser_row, r.uniform("deal"), deals_of)
        ),
        revenue=pl.when(pl.col("converted"))
        .then(
            (pl.col("_order_value") * pl.lit(commission).gather(advertiser_row)).round(2).clip(0.01)
        )
        .otherwise(0.0),
    )
    return frame.select(clicks.columns.keys())
