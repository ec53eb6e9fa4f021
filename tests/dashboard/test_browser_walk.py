"""A new user's first hour in a real browser, in English, Turkish and Dutch: sign up → the
first video from the form's defaults (affordable with the signup grant) → history → credits
→ alerts → docs and prices. On every page: no English string left untranslated, no console
error (a missing favicon counts), and a screenshot in tests/artifacts/walk/.

Uses /usr/bin/chromium (never `playwright install`), against real gunicorn and Celery
worker processes.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from tests.processes import running_stack

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "walk"
PASSWORD = "Walk-test-passw0rd"

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
polib = pytest.importorskip("polib")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) or shutil.which("chromium")),
        reason=f"needs Debian's Chromium at {CHROMIUM}; browsers are never downloaded",
    ),
]

# Names and codes that read the same in every language.
SAME_EVERYWHERE = {
    "API", "OpenAPI", "Swagger UI", "ReDoc", "cURL", "Webhook", "webhook", "Model", "Prompt",
    "Status", "Email", "Video", "Lite", "Type", "Credits", "credits", "Filters", "Dashboard",
    "Parameters", "Seed", "ID", "Callbacks", "Endpoints", "Upgrades, per video", "Fast",
    "Quality", "veosaas",
}  # fmt: skip


def english_leftovers(language: str) -> set[str]:
    """English texts of this language's catalog that a translated page must not show."""
    path = Path(settings.BASE_DIR) / "locale" / language / "LC_MESSAGES" / "django.po"
    return {
        e.msgid
        for e in polib.pofile(str(path))
        if e.msgstr and e.msgstr != e.msgid and e.msgid not in SAME_EVERYWHERE
        and "%(" not in e.msgid and "<" not in e.msgid and len(e.msgid) > 2
    }  # fmt: skip


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--headless", "--no-sandbox", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


class Walk:
    def __init__(self, page: Any, language: str) -> None:
        self.page = page
        self.language = language
        self.problems: list[str] = []
        self.leftovers = english_leftovers(language) if language != "en" else set()
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    def check(self, name: str) -> None:
        """No English leftover in any text node or label of the page; a screenshot."""
        texts = self.page.evaluate(
            """() => {
              const out = [];
              const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
              while (walker.nextNode()) {
                const parent = walker.currentNode.parentElement;
                if (parent && parent.closest('pre, code, script, style, .who, td.small')) continue;
                const text = walker.currentNode.textContent.trim();
                if (text) out.push(text);
              }
              document.querySelectorAll('[aria-label], [placeholder], [title]').forEach(el => {
                for (const a of ['aria-label', 'placeholder', 'title']) {
                  if (el.getAttribute(a)) out.push(el.getAttribute(a).trim());
                }
              });
              return out;
            }"""
        )
        left = sorted({t for t in texts if t in self.leftovers})
        if left:
            self.problems.append(f"{self.language} {name}: untranslated {left}")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.language}-{name}.png"), full_page=True)


def walk(browser: Any, base: str, language: str) -> list[str]:
    expect = playwright_sync.expect
    context = browser.new_context(base_url=base, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    w = Walk(page, language)

    page.goto("/accounts/signup/")
    if language != "en":
        page.select_option("#language-select", language)
        expect(page.locator("html")).to_have_attribute("lang", language)
    w.check("1-signup")
    page.fill("#id_email", f"walk-{language}@example.com")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    w.check("2-home")

    # The first video: the form's defaults, affordable with the signup grant.
    page.goto("/dashboard/new/")
    expect(page.locator("#price-short")).to_be_hidden()
    page.fill("#id_prompt", "A lighthouse at dusk, waves rolling in")
    w.check("3-new-video")
    page.locator("#submit-video").click()
    expect(page).to_have_url(re.compile(r"/dashboard/jobs/[0-9a-f-]{36}/$"))
    expect(page.locator("#job-status")).to_have_attribute("data-terminal", "true", timeout=180_000)
    # The player fits the screen.
    height = page.evaluate("document.getElementById('player').getBoundingClientRect().height")
    assert height <= 900 * 0.7 + 1, height
    w.check("4-job")

    for path, name in (
        ("/dashboard/jobs/", "5-history"),
        ("/dashboard/credits/", "6-credits"),
        ("/dashboard/alerts/", "7-alerts"),
        ("/docs/", "8-docs"),
        ("/docs/prices/", "9-prices"),
    ):
        page.goto(path)
        w.check(name)
        if name == "7-alerts":
            # The metric select is wide enough for its longest option (not cut off).
            room = page.evaluate(
                """() => {
                  const s = document.getElementById('id_metric');
                  const c = document.createElement('canvas').getContext('2d');
                  c.font = getComputedStyle(s).font;
                  const w = Math.max(...[...s.options].map(o => c.measureText(o.text).width));
                  return s.clientWidth - w;
                }"""
            )
            assert room > 16, (language, room)
    # The usage chart has values on its axis.
    page.goto("/dashboard/credits/")
    expect(page.locator("#chart-values span")).to_have_count(3)
    context.close()
    return w.problems


def test_first_hour_in_english_turkish_and_dutch(tmp_path: Path, chromium: Any) -> None:
    with running_stack(tmp_path) as stack:
        problems = []
        for language in ("en", "tr", "nl"):
            problems += walk(chromium, stack.base_url, language)
    assert problems == []
