"""Content-Security-Policy (django-csp, script nonces) on the dashboard, the admin and the
docs, and the pages still work in Chromium with no CSP violation reported.

Debian's Chromium only (never a downloaded browser); skipped when it is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from generation.models import Job
from tests.factories import UserFactory
from tests.processes import running_stack

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu"]
PASSWORD = "Csp-test-passw0rd"

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) or shutil.which("chromium")),
        reason=f"needs Debian's Chromium at {CHROMIUM}; browsers are never downloaded",
    ),
]

# Page → a selector that only appears once the page (and its scripts) did their work.
CUSTOMER_PAGES = {
    "/dashboard/": "main",
    "/dashboard/new/": "main form",
    "/dashboard/jobs/": "main",
    "/dashboard/credits/": "main",
    "/dashboard/alerts/": "main",
    "/accounts/keys/": "main",
    "/docs/": "main",
    "/docs/veo3o1/": "main",
    "/docs/veo3api/": "main",
    "/docs/codefast/": "main",
    "/docs/swagger/": ".swagger-ui .info",
    "/docs/redoc/": "[role=search], .api-content",
}
ADMIN_PAGES = {
    "/admin/": "#content",
    "/admin/accounts/user/": "#content-main",
    "/admin/generation/job/": "#content-main",
    "/admin/billing/transfer/": "#content-main",
}
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # see tests/dashboard/test_browser.py
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


def _visit_all(browser: Any, base: str, email: str, pages: dict[str, str], login: str) -> None:
    context = browser.new_context(base_url=base)
    context.add_init_script(WATCH)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(login)
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_load_state("networkidle")
    for path, ready in pages.items():
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        policy = response.headers.get("content-security-policy", "")
        assert (
            "script-src 'self'" in policy
            and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        ), (path, policy)
        if not path.startswith(("/admin/", "/docs/swagger/", "/docs/redoc/")):
            assert "'nonce-" in policy, (path, policy)  # our pages' scripts carry the nonce
        page.wait_for_selector(ready, timeout=20_000)
        page.wait_for_load_state("networkidle")
        # Redoc's bundle always shows its vendor logo from cdn.redoc.ly: the policy blocking
        # that remote image is intended (the docs load nothing from third parties).
        violations = [v for v in page.evaluate("window.__csp") if REDOC_LOGO not in v]
        refused = [m for m in console if "Content Security Policy" in m and REDOC_LOGO not in m]
        assert violations == [] and refused == [], (path, violations, refused)
    context.close()


def test_pages_carry_a_csp_and_run_without_violations(tmp_path, chromium) -> None:
    user = UserFactory()
    user.set_password(PASSWORD)
    user.save()
    staff = UserFactory(is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    job = Job.objects.create(user=user, facade="veo3o1", prompt="csp", provider="local")
    pages = {**CUSTOMER_PAGES, f"/dashboard/jobs/{job.pk}/": "main"}
    with running_stack(tmp_path, worker=False) as stack:
        _visit_all(chromium, stack.base_url, user.email, pages, "/accounts/login/")
        _visit_all(chromium, stack.base_url, staff.email, ADMIN_PAGES, "/admin/login/")
