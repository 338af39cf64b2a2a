"""The page in a real browser: Debian's Chromium driven by Playwright against the stack.

A person signs in with an API key, creates a CSV and an XLSX export from the form, watches
the progress bar reach done (the page updates itself), downloads both files and opens them
with independent readers; cancels a queued export; sees a validation error beside its
field; gets the 404 page for another account's export, a 403 for a POST without its CSRF
token, and is signed out by a tampered cookie. Elements are found by role and label.
"""

from __future__ import annotations

import csv
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from jobstore.models import LaunchMode
from jobstore.store import create_job, job_engine
from tests.api_shim.http_checks import job_rows, runner_paused
from tests.factories import DEC_END, DEC_START, query
from tests.page.conftest import OVERVIEW_FORM

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
DONE_TIMEOUT = 120_000  # ms: an export on the shared test stack, with room for a busy machine
WIDE, PHONE = {"width": 1440, "height": 900}, {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (the system's: nothing is downloaded)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def new_context(browser: Browser, stack: Any, viewport: dict[str, int] = WIDE) -> BrowserContext:
    """A fresh browser profile on the stack's page."""
    context = browser.new_context(base_url=stack.base_url, viewport=viewport, accept_downloads=True)
    context.set_default_timeout(30_000)
    return context


def sign_in(
    context: BrowserContext, stack: Any, account: str = "acme", role: str = "admin"
) -> Page:
    """Open the page, land on sign-in, sign in with the demo key by the keyboard."""
    page = context.new_page()
    page.goto("/ui/")
    expect(page).to_have_url(re.compile(r"/ui/sign-in"))
    key_field = page.get_by_label("API key")
    for _ in range(4):  # skip link, site name, then the key field
        page.keyboard.press("Tab")
        if key_field.evaluate("e => e === document.activeElement"):
            break
    expect(key_field).to_be_focused()
    page.keyboard.type(stack.keys[account][role])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Exports", level=1)).to_be_visible()
    return page


def open_report_form(page: Page, report: str) -> None:
    """Main navigation → New export → the report's link."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New export").click()
    page.get_by_role("link", name=report, exact=True).click()
    expect(page.get_by_role("heading", name=f"New export: {report}")).to_be_visible()


def create_overview_csv(page: Page, first: str, last: str) -> None:
    """The VerifyHuman overview as CSV for a date range, from the form."""
    open_report_form(page, "Overview")
    page.get_by_label("Format").select_option("csv")
    page.get_by_label("Environment").select_option("live")
    page.get_by_label("From").fill(first)
    page.get_by_label("To").fill(last)
    page.get_by_role("button", name="Create export").click()


def export_number(page: Page) -> int:
    """The export id in the detail page's heading."""
    heading = page.get_by_role("heading", level=1).inner_text()
    found = re.match(r"Export #(\d+)", heading)
    assert found, heading
    return int(found.group(1))


def wait_until_done(page: Page) -> int:
    """The detail page's progress reaches done by itself (polling); the export's number."""
    number = export_number(page)
    download = page.get_by_role("link", name=f"Download export #{number}")
    expect(download).to_be_visible(timeout=DONE_TIMEOUT)
    bar = page.get_by_role("progressbar", name=f"Progress of export #{number}")
    expect(bar).to_have_js_property("position", 1)  # value == max: every part done
    expect(page.get_by_role("region", name="Status")).to_contain_text("Ready")
    return number


def download(page: Page, number: int, target: Path) -> Path:
    """Click the Download link; the saved file."""
    with page.expect_download() as info:
        page.get_by_role("link", name=f"Download export #{number}").click()
    path = target / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_create_watch_and_download_csv_and_xlsx(browser, stack, demo_db_path, tmp_path) -> None:
    context = new_context(browser, stack)
    page = sign_in(context, stack)

    create_overview_csv(page, "2025-12-01", "2025-12-31")
    csv_number = wait_until_done(page)
    rows_shown = page.get_by_role("region", name="Status").inner_text()
    csv_file = download(page, csv_number, tmp_path)
    with csv_file.open(newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    ((total,),) = query(
        demo_db_path,
        "SELECT count(*) FROM verification_events WHERE account_id = 1 AND env = 'live' "
        "AND created_at >= ? AND created_at < ?",
        DEC_START,
        DEC_END,
    )
    assert int(table[0]["Verifications"]) == total
    assert f"Rows\n{len(table):,}" in rows_shown or f"Rows {len(table):,}" in rows_shown

    open_report_form(page, "Deals (Excel)")
    page.get_by_label("Sort by").select_option("discount_pct")
    page.get_by_label("Order").select_option("desc")
    page.get_by_role("button", name="Create export").click()
    xlsx_number = wait_until_done(page)
    xlsx_file = download(page, xlsx_number, tmp_path)
    sheet = openpyxl.load_workbook(xlsx_file, read_only=True).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    ((deals,),) = query(demo_db_path, "SELECT count(*) FROM deals WHERE account_id = 1")
    assert values[0][:2] == ("Deal ID", "Advertiser ID")
    assert len(values) - 1 == deals
    discounts = [row[6] for row in values[1:]]
    assert discounts == sorted(discounts, reverse=True)

    # The list shows both, newest first, with the plain status and a Download button.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exports").click()
    links = page.get_by_role("link", name=re.compile(r"^Export #\d+$"))
    numbers = [int(t.removeprefix("Export #")) for t in links.all_inner_texts()]
    assert numbers == sorted(numbers, reverse=True) and {csv_number, xlsx_number} <= set(numbers)
    expect(page.get_by_role("link", name=f"Download export #{xlsx_number}")).to_be_visible()
    context.close()


def test_cancel_a_queued_export(browser, stack) -> None:
    context = new_context(browser, stack)
    page = sign_in(context, stack)
    with runner_paused(stack):
        create_overview_csv(page, "2025-11-01", "2025-11-07")
        number = export_number(page)
        status = page.get_by_role("region", name="Status")
        expect(status).to_contain_text("Waiting to start")
        page.get_by_role("button", name=f"Cancel export #{number}").click()
        expect(page.get_by_role("status")).to_have_text("The export was cancelled.")
        expect(status).to_contain_text("Cancelled")
        expect(page.get_by_role("button", name=f"Cancel export #{number}")).to_have_count(0)
    context.close()


def test_validation_error_beside_the_field(browser, stack) -> None:
    context = new_context(browser, stack)
    page = sign_in(context, stack)
    before = job_rows()
    create_overview_csv(page, "2025-01-01", "2025-12-31")  # 365 days; acme is on Growth (93)
    message = "Date range exceeds plan limit (93 days on the Growth plan)"
    to_field = page.get_by_label("To")
    expect(to_field).to_have_accessible_description(re.compile(re.escape(message)))
    expect(to_field).to_have_attribute("aria-invalid", "true")
    expect(to_field).to_have_value("2025-12-31")  # what was typed stays
    expect(page.get_by_role("alert")).to_contain_text(message)
    assert job_rows() == before
    context.close()


def test_another_accounts_export_is_a_404_page(browser, stack) -> None:
    theirs = create_job(
        job_engine(),
        surface="webhooks",
        account_id=2,  # globex
        report_type="message-log",
        fmt="csv",
        params={"start_time": "2025-12-01T00:00:00Z", "end_time": "2025-12-02T00:00:00Z"},
        requested_by="admin@globex.test",
        launch_mode=LaunchMode.LOCAL,  # never launched: only its id matters here
    )
    context = new_context(browser, stack)
    page = sign_in(context, stack)
    for path in (f"/ui/exports/{theirs.public_id}", f"/ui/exports/{theirs.public_id}/download"):
        response = page.goto(path)
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    context.close()


def test_post_without_csrf_token_is_refused(browser, stack) -> None:
    context = new_context(browser, stack)
    sign_in(context, stack)
    before = job_rows()
    form = OVERVIEW_FORM
    refused = context.request.post("/ui/exports", form=form)
    assert refused.status == 403 and "security token" in refused.text()
    assert job_rows() == before
    context.close()


def test_tampered_cookie_signs_out(browser, stack) -> None:
    context = new_context(browser, stack)
    page = sign_in(context, stack)
    (cookie,) = [c for c in context.cookies() if c["name"] == "rex_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    body, mac = cookie["value"].split(".")
    forged = body + "." + ("0" if mac[0] != "0" else "1") + mac[1:]
    context.add_cookies([{**cookie, "value": forged}])  # type: ignore[list-item]
    page.goto("/ui/")
    expect(page).to_have_url(re.compile(r"/ui/sign-in"))
    expect(page.get_by_role("status")).to_have_text(re.compile("Your session has ended"))
    context.close()


CONTRAST = """() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    if (!el.offsetParent && getComputedStyle(el).position !== "fixed") continue;
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!text || el.closest(".visually-hidden, .skip")) continue;
    const fg = lum(rgb(getComputedStyle(el).color)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const what = el.tagName + " '" + el.textContent.trim().slice(0, 30) + "' ";
    if (ratio < 4.5) out.push(what + ratio.toFixed(2));
  }
  return out;
}"""
UNNAMED = """() => {
  const bad = [];
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!el.labels.length && !el.getAttribute("aria-label")) bad.push(el.name || el.id);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    const named = el.textContent.trim() || el.getAttribute("aria-label");
    if (!named) bad.push(el.outerHTML.slice(0, 60));
  }
  return bad;
}"""


@pytest.mark.parametrize("viewport", [PHONE, WIDE], ids=["375px", "1440px"])
def test_labels_contrast_and_width(browser, stack, viewport) -> None:
    context = new_context(browser, stack, viewport)
    page = sign_in(context, stack)
    for path in (
        "/ui/",
        "/ui/exports/new",
        "/ui/exports/new?report=deals_excel",
        "/ui/exports/new?report=message-log",
    ):
        page.goto(path)
        assert page.evaluate(UNNAMED) == [], path
        assert page.evaluate(CONTRAST) == [], path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{path} scrolls sideways at {viewport['width']} px"
    context.close()


def test_schedules_for_admins_only(browser, stack) -> None:
    context = new_context(browser, stack)
    page = sign_in(context, stack)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Schedules").click()
    expect(page.get_by_role("heading", name="Schedules", level=1)).to_be_visible()
    page.get_by_role("link", name="Schedule Overview", exact=True).click()
    expect(page.get_by_role("heading", name="New schedule: Overview")).to_be_visible()
    label = f"Browser overview {secrets.token_hex(3)}"
    page.get_by_label("Name").fill(label)
    page.get_by_label("Format").select_option("csv")
    page.get_by_label("Range").select_option("previous-week")
    page.get_by_label("Repeat").select_option("cron")
    page.get_by_label("Cron expression").fill("not a cron")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Environment").select_option("live")
    page.get_by_role("button", name="Create schedule").click()
    cron = page.get_by_label("Cron expression")
    expect(cron).to_have_attribute("aria-invalid", "true")
    expect(cron).to_have_accessible_description(re.compile("cron", re.I))
    cron.fill("15 6 * * *")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("status")).to_have_text("The schedule was created.")
    row = page.get_by_role("row").filter(has_text=label)
    expect(row).to_contain_text("cron 15 6 * * *")
    expect(row).to_contain_text("Europe/Berlin")
    expect(row).to_contain_text("Active")
    row.get_by_role("button", name=f"Pause schedule {label}").click()
    expect(page.get_by_role("status")).to_have_text("The schedule was paused.")
    expect(row).to_contain_text("Paused")
    row.get_by_role("button", name=f"Resume schedule {label}").click()
    expect(page.get_by_role("status")).to_have_text("The schedule was resumed.")
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("06:15")  # the next run, in the schedule's zone
    row.get_by_role("button", name=f"Delete schedule {label}").click()
    expect(page.get_by_role("status")).to_have_text("The schedule was deleted.")
    expect(page.get_by_role("row").filter(has_text=label)).to_have_count(0)
    context.close()
    member = new_context(browser, stack)
    page = sign_in(member, stack, role="member")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Exports")).to_be_visible()
    expect(nav.get_by_role("link", name="Schedules")).to_have_count(0)
    response = page.goto("/ui/schedules")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    member.close()
