# ruff: noqa: RUF001 - Turkish strings use the dotless i on purpose
"""The dashboard in a real browser (Debian's Chromium, headless, driven by Playwright) against
real gunicorn and Celery worker processes: sign up → create an API key → make a 4-second text
video → watch its status reach "completed" without a reload → play it → see its ledger
entries. Then the same flow in Turkish. Screenshots go to tests/artifacts/dashboard/.

Never runs `playwright install`: it uses /usr/bin/chromium and skips when that is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connections

from billing.models import Transfer
from billing.services import price_quote
from generation.models import Job
from tests.generation.conftest import image_bytes
from tests.processes import running_stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "dashboard"
PASSWORD = "Browser-test-passw0rd"
SIGNUP_CREDITS = 100

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
)
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) or shutil.which("chromium")),
        reason=f"needs Debian's Chromium at {CHROMIUM} "
        "(apt-get install -y chromium); browsers are never downloaded",
    ),
]


@dataclass(frozen=True)
class Texts:
    """What the pages say in one language (the flow asserts these, so a missing translation
    fails the Turkish run)."""

    language: str | None
    signup_title: str
    signup_button: str
    daily_limit: str
    remaining: str
    total_videos: str
    keys_link: str
    create_key: str
    copied: str
    new_video_link: str
    create_video: str
    completed: str
    hold: str
    capture: str
    credits_link: str


ENGLISH = Texts(
    language=None,
    signup_title="Create your account",
    signup_button="Sign up",
    daily_limit="Daily limit",
    remaining="Remaining today",
    total_videos="Total videos",
    keys_link="API keys",
    create_key="Create key",
    copied="Copied",
    new_video_link="New video",
    create_video="Create video",
    completed="Completed",
    hold="Hold",
    capture="Capture (charged)",
    credits_link="Credits",
)
TURKISH = Texts(
    language="tr",
    signup_title="Hesabınızı oluşturun",
    signup_button="Kayıt Ol",
    daily_limit="Günlük Limit",
    remaining="Kalan Kullanım",
    total_videos="Toplam Video",
    keys_link="API key'ler",
    create_key="Anahtar oluştur",
    copied="Kopyalandı",
    new_video_link="Yeni Video",
    create_video="Video Oluştur",
    completed="Tamamlandı",
    hold="Bloke (hold)",
    capture="Tahsilat (capture)",
    credits_link="Krediler",
)


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # Playwright's sync API keeps an event loop running on this thread. Django then refuses ORM
    # calls (they are ordinary blocking calls here, so that check is switched off), and asgiref
    # hands out a separate, context-local database connection, closed here before the loop
    # stops (else it would outlive the test and block dropping the test database).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


def wait_until(page: Any, expression: str, timeout: float = 20) -> None:
    """Poll a JS expression with `page.evaluate` (wait_for_function evaluates a string inside
    the page, which the Content-Security-Policy forbids: no 'unsafe-eval')."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.1)


def shot(page: Any, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def run_flow(browser: Any, base: str, texts: Texts, email: str, price: int) -> str:
    """The whole customer flow; returns the job id."""
    expect = playwright_sync.expect
    tag = texts.language or "en"
    context = browser.new_context(
        base_url=base, viewport={"width": 1280, "height": 900}, locale="en-US"
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # A browser opening `/` is sent to the dashboard, which asks it to log in.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/dashboard/$"))
    if texts.language:
        # Choosing the language applies it (no second button with scripts on).
        expect(page.locator("#language-form button[type=submit]")).to_be_hidden()
        page.select_option("#language-select", texts.language)
        expect(page.locator("html")).to_have_attribute("lang", texts.language)
    page.locator(".site-nav").get_by_role("link", name=texts.signup_button).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(texts.signup_title)

    # Sign up: lands on the dashboard with the signup credits in the first card.
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.locator("main").get_by_role("button", name=texts.signup_button).click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    expect(page.locator("#card-available .value")).to_have_text(str(SIGNUP_CREDITS))
    for label in (texts.daily_limit, texts.remaining, texts.total_videos):
        expect(page.locator(".cards")).to_contain_text(label)
    # Keyboard: the first Tab reaches the skip link, which is then visible.
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    shot(page, f"{tag}-1-home")

    # An API key, shown once, copied with the button; it works against the codefast API.
    page.locator(".site-nav").get_by_role("link", name=texts.keys_link).click()
    page.fill("#id_name", "browser")
    page.get_by_role("button", name=texts.create_key).click()
    token = page.locator("#new-key-token").inner_text().strip()
    assert re.fullmatch(r"vsk_\w+", token), token
    copy = page.locator("button[data-copy-target='#new-key-token']")
    copy.click()
    expect(copy).to_have_text(texts.copied)
    assert page.evaluate("navigator.clipboard.readText()") == token
    check = requests.get(f"{base}/", headers={"X-API-Key": token}, timeout=10)
    assert check.json() == {"message": "Veo 3 Fast Video Generator API running"}
    shot(page, f"{tag}-2-api-key")

    # A 4-second text video; the price shown live is the price that is held.
    page.locator(".site-nav").get_by_role("link", name=texts.new_video_link).click()
    # Choosing an image shows it before anything is sent; back to text for this video.
    expect(page.locator("#image-fields")).to_be_hidden()
    page.check("input[name=mode][value=image]")
    page.set_input_files(
        "#id_image",
        files=[
            {"name": "frame.png", "mimeType": "image/png", "buffer": image_bytes("PNG", (64, 36))}
        ],
    )
    expect(page.locator("#image-preview")).to_be_visible()
    assert page.locator("#image-preview").get_attribute("src").startswith("blob:")
    page.check("input[name=mode][value=text]")
    expect(page.locator("#image-fields")).to_be_hidden()
    page.fill("#id_prompt", "A lighthouse at dusk, waves rolling in")
    page.select_option("#id_model_tier", "fast")
    page.select_option("#id_resolution", "720p")
    page.select_option("#id_duration_seconds", "6")
    expect(page.locator("#price-amount")).to_have_text(
        str(price * 6 // 4)
    )  # per-second pricing: 6 s costs 1.5 x 4 s
    page.select_option("#id_duration_seconds", "4")
    expect(page.locator("#price-amount")).to_have_text(str(price))
    shot(page, f"{tag}-3-new-video")
    # The job page follows the job's live event stream (polling is only its fallback).
    streams: list[tuple[int, str]] = []
    page.on(
        "response",
        lambda r: (
            streams.append((r.status, r.headers.get("content-type", "")))
            if r.url.endswith("/events")
            else None
        ),
    )
    page.get_by_role("button", name=texts.create_video).click()
    expect(page).to_have_url(re.compile(r"/dashboard/jobs/[0-9a-f-]{36}/$"))
    job_id = page.url.rstrip("/").rsplit("/", 1)[1]

    # The status updates in place: no navigation happens while we wait.
    page.evaluate("window.__sameDocument = 'yes'")
    expect(page.locator("#job-status")).to_have_attribute("data-terminal", "true", timeout=120_000)
    expect(page.locator("#state-label")).to_have_text(texts.completed)
    assert page.evaluate("window.__sameDocument") == "yes", "the page reloaded"
    expect(page.locator("#progress")).to_have_attribute("value", "100")
    assert (200, "text/event-stream") in streams, streams

    # The player plays our permanent media URL; poster and download link are set.
    player = page.locator("#player")
    expect(page.locator("#result")).to_be_visible()
    assert player.get_attribute("src") == f"{base}/media/v/{job_id}.mp4"
    assert player.get_attribute("poster") == f"{base}/media/v/{job_id}.jpg"
    wait_until(page, "document.getElementById('player').readyState >= 1")
    duration = page.evaluate("document.getElementById('player').duration")
    assert abs(duration - 4) < 0.2, duration
    page.evaluate(
        "(() => { const v = document.getElementById('player'); v.muted = true;"
        " return v.play(); })()"
    )
    wait_until(page, "document.getElementById('player').currentTime > 0.3")
    download = page.locator("#download")
    assert download.get_attribute("href") == f"{base}/media/v/{job_id}.mp4"
    assert download.get_attribute("download") == f"veosaas-{job_id}.mp4"

    # The ledger section was refreshed in place: the hold and its capture.
    ledger = page.locator("#ledger")
    expect(ledger.locator("tr[data-kind=capture]")).to_have_count(1, timeout=10000)
    expect(ledger.locator("tr[data-kind=hold]")).to_contain_text(texts.hold)
    expect(ledger.locator("tr[data-kind=hold]")).to_contain_text(f"-{price}")
    expect(ledger.locator("tr[data-kind=capture]")).to_contain_text(texts.capture)
    assert page.evaluate("window.__sameDocument") == "yes"
    page.evaluate("document.getElementById('player').pause()")
    shot(page, f"{tag}-4-job-completed")

    # The credits page lists the same entries.
    page.locator(".site-nav").get_by_role("link", name=texts.credits_link).click()
    rows = page.locator("#ledger tbody tr")
    expect(rows).to_have_count(3)  # signup grant, hold, capture
    expect(page.locator(f"#ledger a[href='/dashboard/jobs/{job_id}/']")).to_have_count(2)
    shot(page, f"{tag}-5-credits")

    # Phone width: the grid collapses to one column and nothing overflows sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/dashboard/")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, overflow
    shot(page, f"{tag}-6-phone")

    if texts.language is None:
        # The docs use this server's address, and Swagger UI runs from local files only.
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto("/docs/codefast/")
        expect(page.locator("main")).to_contain_text(f'curl -X POST "{base}/generate"')
        shot(page, f"{tag}-7-docs")
        external: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(base) else external.append(r.url))
        page.goto("/docs/swagger/")
        expect(page.locator(".swagger-ui")).to_contain_text("/api/v1/veo/generate", timeout=20_000)
        expect(page.locator(".swagger-ui")).to_contain_text("/status/{job_id}")
        assert external == [], external
        shot(page, f"{tag}-8-swagger", full_page=False)

    assert errors == [], errors
    context.close()
    return job_id


def assert_charged(job_id: str, price: int) -> None:
    job = Job.objects.get(pk=job_id)
    assert job.facade == Job.Facade.DASHBOARD and job.state == Job.State.SUCCEEDED
    assert job.duration_seconds == 4 and job.credits_charged == price
    kinds = sorted(Transfer.objects.filter(job_id=job_id).values_list("kind", "amount"))
    assert kinds == [("capture", price), ("hold", price)]


def test_sign_up_create_key_make_video_watch_play_and_see_the_ledger(
    tmp_path: Path, chromium: Any
) -> None:
    price = price_quote(
        operation="generate", model_tier="fast", resolution="720p", seconds=4
    ).credits
    with running_stack(tmp_path, BILLING_SIGNUP_GRANT_CREDITS=str(SIGNUP_CREDITS)) as stack:
        job_id = run_flow(chromium, stack.base_url, ENGLISH, "browser@example.com", price)
    assert_charged(job_id, price)


def test_the_same_flow_in_turkish(tmp_path: Path, chromium: Any) -> None:
    price = price_quote(
        operation="generate", model_tier="fast", resolution="720p", seconds=4
    ).credits
    with running_stack(tmp_path, BILLING_SIGNUP_GRANT_CREDITS=str(SIGNUP_CREDITS)) as stack:
        job_id = run_flow(chromium, stack.base_url, TURKISH, "tarayici@example.com", price)
    assert_charged(job_id, price)
