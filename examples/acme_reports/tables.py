"""The table Acme's reports read, declared by the reports (not the demo schema).

``create_sample`` makes and fills it, for trying the reports out and for the tests; in
production the table is already in the database that ``REPORT_EXPORTS_SOURCE_URL`` names.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Boolean, Column, Engine, Float, Index, Integer, MetaData, String, Table

from catalog.sources import Timestamp

metadata = MetaData()

invoices = Table(
    "acme_invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("invoice_number", String(20), nullable=False),
    Column("issued_at", Timestamp, nullable=False),
    Column("customer", String(120), nullable=False),
    Column("status", String(8), nullable=False),  # open | paid | void
    Column("currency", String(3), nullable=False),
    Column("amount", Float, nullable=False),
    Column("paid", Boolean, nullable=False),
    Index("ix_acme_invoices_account_issued", "account_id", "issued_at"),
)

CUSTOMERS = ("Globex", "Initech", "Umbrella", "Hooli", "Stark <Industries>")
STATUSES = ("open", "paid", "void")


def sample_rows(account_id: int, count: int, first_day: datetime) -> list[dict[str, object]]:
    """``count`` invoices of one account, one every 37 minutes from ``first_day``."""
    rows = []
    for n in range(count):
        status = STATUSES[n % 3]
        rows.append(
            {
                "account_id": account_id,
                "invoice_number": f"INV-{account_id:02d}-{n:06d}",
                "issued_at": first_day + timedelta(minutes=37 * n),
                "customer": CUSTOMERS[n % len(CUSTOMERS)],
                "status": status,
                "currency": "EUR" if n % 4 else "USD",
                "amount": round(10 + (n * 7.31) % 990, 2),
                "paid": status == "paid",
            }
        )
    return rows


def create_sample(engine: Engine, rows: dict[int, int], first_day: datetime) -> None:
    """Create the table (again) and fill it: ``rows`` is invoices per account id."""
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for account_id, count in rows.items():
            conn.execute(invoices.insert(), sample_rows(account_id, count, first_day))
