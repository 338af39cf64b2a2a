"""HiEnergy demo rows: affiliate advertisers and their deals (small tables, drawn in Python).

Some names and titles are deliberately awkward — commas, double quotes, non-ASCII, and a
leading ``= + - @`` — because real affiliate catalogs contain them and exports must cope.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from demo_data.accounts import DEMO_ACCOUNTS, activity_weights
from demo_data.load import frame_schema
from demo_data.schema import advertisers, deals
from demo_data.timeline import Window

CATEGORIES: dict[str, tuple[str, ...]] = {
    "Apparel": ("Apparel", "Outfitters", "Threads", "Boutique"),
    "Electronics": ("Electronics", "Gadgets", "Tech"),
    "Travel": ("Travel", "Getaways", "Voyages"),
    "Home & Garden": ("Home", "Living", "Garden Supply"),
    "Health & Beauty": ("Beauty", "Wellness", "Apothecary"),
    "Food & Drink": ("Coffee Roasters", "Kitchen", "Provisions"),
    "Sports & Outdoors": ("Outdoors", "Sports", "Cycles"),
    "Finance": ("Finance", "Insurance", "Lending"),
    "Software": ("Software", "Cloud", "Apps"),
    "Toys & Games": ("Toys", "Games", "Hobbies"),
}
BRANDS = ("Northwind", "Bluebird", "Summit", "Evergreen", "Brightside", "Urban", "Coastal",
          "Golden", "Silverline", "Redwood", "Lumen", "Nimbus", "Harbor", "Maple", "Crescent",
          "Atlas", "Pioneer", "Velvet", "Copper", "Juniper", "Nordlicht", "Blåbær", "Crème",
          "Zoë's", "Kraków", "Élan", "Sørensen", "Mañana")  # fmt: skip
QUALIFIERS = ("", "", " Direct", " Online", " Outlet", " Club", " Europe", " USA")
SUFFIXES = ("", "", "", " Co.", ", Inc.", " Ltd", " GmbH", ", LLC", " & Sons")
COUNTRIES: dict[str, tuple[str, int]] = {  # country: (domain suffix, weight)
    "US": (".com", 40), "GB": (".co.uk", 12), "DE": (".de", 10), "FR": (".fr", 8),
    "NL": (".nl", 4), "ES": (".es", 4), "IT": (".it", 4), "CA": (".ca", 6),
    "AU": (".com.au", 5), "PL": (".pl", 3),
}  # fmt: skip
NETWORKS = ("CJ Affiliate", "Rakuten Advertising", "Awin", "Impact", "ShareASale", "Partnerize")
STATUSES = ("active", "paused", "pending")

# (account id, name, category, country): every account gets some, account 1 gets each kind.
TRICKY_ADVERTISERS = (
    (1, "Café Müller, GmbH", "Food & Drink", "DE"),
    (1, '"Best" Deals Outlet', "Electronics", "US"),
    (1, "=Equals Home & Garden", "Home & Garden", "GB"),
    (1, "@Home Living", "Home & Garden", "US"),
    (2, "+Plus Size Fashion", "Apparel", "US"),
    (2, "Żółw & Co., Kraków", "Toys & Games", "PL"),
    (3, "-40% Outlet", "Apparel", "FR"),
    (3, "東京 Gadgets", "Electronics", "JP"),
    (4, "Ünal Elektronik A.Ş.", "Electronics", "TR"),
    (5, 'São Paulo "Sabor" Café', "Food & Drink", "BR"),
)
# Deal j (j < len) belongs to advertiser j + 1 above: (title, discount_pct).
TRICKY_DEALS = (
    ('"Doorbuster" deal: 50% off, today only', 50.0),
    ("=50% off everything", 50.0),
    ("Gartenmöbel – 3 for 2, this week", 33.0),
    ("@Home bundle: buy one, get one free", 50.0),
    ("+10% cashback on all orders", 10.0),
    ("-20% na zabawki, tylko dziś", 20.0),
    ("-15% on winter jackets, while stocks last", 15.0),
    ('Save 25% with code "TOKYO"', 25.0),
    ("Kış indirimi: %30", 30.0),
    ("Café da manhã, 2 por 1", 50.0),
)
PERCENT_TITLES = (
    "{pct:g}% off sitewide",
    "Up to {pct:g}% off {thing}",
    "Extra {pct:g}% off sale items",
    "Buy one, get one {pct:g}% off",
    "{pct:g}% off {thing}, this weekend only",
    "Winter sale – {pct:g}% off {thing}",
)
FLAT_TITLES = ("Free shipping on orders over ${amount}", "${amount} off your first order")
CODE_WORDS = ("SAVE", "WELCOME", "WINTER", "FLASH", "VIP", "HOLIDAY", "NEW", "EXTRA")
DURATIONS_DAYS = (3, 7, 14, 30, 60, 90)


def advertiser_count(rows: int) -> int:
    """Advertisers for ``rows`` verification events."""
    return max(40, rows // 500)


def deal_count(rows: int) -> int:
    """Deals for ``rows`` verification events (never fewer than advertisers)."""
    return max(120, rows // 100)


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = "".join(c if c.isalnum() else " " for c in ascii_name.lower()).split()
    return "-".join(w for w in words if w not in {"co", "inc", "ltd", "gmbh", "llc", "sons"})


def _timestamp(window: Window, rng: random.Random) -> datetime:
    return window.start_at + timedelta(seconds=rng.randrange(window.seconds))


def _account_of(index: int, rng: random.Random) -> int:
    if index < len(TRICKY_ADVERTISERS):
        return TRICKY_ADVERTISERS[index][0]
    if index < len(TRICKY_ADVERTISERS) + 4 * len(DEMO_ACCOUNTS):  # a few each, round-robin
        return DEMO_ACCOUNTS[index % len(DEMO_ACCOUNTS)].id
    return rng.choices([a.id for a in DEMO_ACCOUNTS], activity_weights())[0]


def advertisers_frame(seed: int, rows: int, window: Window) -> pl.DataFrame:
    """Every advertiser, ids 1..``advertiser_count(rows)``."""
    rng = random.Random(f"{seed}:advertisers")
    seen: set[str] = set()
    records: list[dict[str, Any]] = []
    for index in range(advertiser_count(rows)):
        account_id = _account_of(index, rng)
        if index < len(TRICKY_ADVERTISERS):
            _, name, category, country = TRICKY_ADVERTISERS[index]
        else:
            category = rng.choice(list(CATEGORIES))
            country = rng.choices(list(COUNTRIES), [w for _, w in COUNTRIES.values()])[0]
            base = f"{rng.choice(BRANDS)} {rng.choice(CATEGORIES[category])}"
            name = f"{base}{rng.choice(QUALIFIERS)}{rng.choice(SUFFIXES)}"
            name = name if name not in seen else f"{base} {index}"
        seen.add(name)
        slug = _slug(name) or f"store-{index + 1}"
        records.append({
            "id": index + 1, "account_id": account_id, "name": name,
            "domain": f"{slug}{COUNTRIES.get(country, ('.com', 0))[0]}", "category": category,
            "country": country, "network": rng.choice(NETWORKS),
            "status": rng.choices(STATUSES, (75, 15, 10))[0],
            "commission_rate": round(rng.uniform(0.02, 0.30), 4),
            "epc": round(min(0.05 + rng.lognormvariate(-1.0, 0.8), 4.0), 4),
            "created_at": _timestamp(window, rng),
        })  # fmt: skip
    return pl.DataFrame(records, schema=frame_schema(advertisers))


def _deal_text(rng: random.Random, category: str) -> tuple[str, float]:
    thing = rng.choice(CATEGORIES[category]).lower()
    if rng.random() < 0.15:
        return rng.choice(FLAT_TITLES).format(amount=rng.choice((10, 25, 50, 75))), 0.0
    pct = float(rng.choice((5, 10, 15, 20, 25, 30, 35, 40, 50, 60, 70)))
    return rng.choice(PERCENT_TITLES).format(pct=pct, thing=thing), pct


def deals_frame(seed: int, rows: int, window: Window, adv: pl.DataFrame) -> pl.DataFrame:
    """Every deal, ids 1..``deal_count(rows)``; each advertiser has at least one."""
    rng = random.Random(f"{seed}:deals")
    owners = adv.select("id", "account_id", "category").rows()
    last_second = window.end_at - timedelta(seconds=1)
    records: list[dict[str, Any]] = []
    for index in range(deal_count(rows)):
        owner = (
            owners[index] if index < len(owners) else owners[int(rng.random() ** 1.5 * len(owners))]
        )
        advertiser_id, account_id, category = owner
        if index < len(TRICKY_DEALS):
            title, pct = TRICKY_DEALS[index]
        else:
            title, pct = _deal_text(rng, category)
        starts = window.start_at + timedelta(days=rng.randrange(window.days))
        ends = min(starts + timedelta(days=rng.choice(DURATIONS_DAYS), seconds=-1), last_second)
        code = None if rng.random() < 0.3 else f"{rng.choice(CODE_WORDS)}{int(pct) or 10}"
        records.append({
            "id": index + 1, "account_id": account_id, "advertiser_id": advertiser_id,
            "title": title, "code": code,
            "category": category if rng.random() < 0.9 else rng.choice(list(CATEGORIES)),
            "discount_pct": pct, "starts_at": starts, "ends_at": ends,
            "exclusive": rng.random() < 0.15,
        })  # fmt: skip
    return pl.DataFrame(records, schema=frame_schema(deals))
