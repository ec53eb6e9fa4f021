# ruff: noqa: RUF001 - Turkish strings use the dotless i on purpose
"""Every string a template marks for translation has a translation in every language we ship.

The existing catalog test only looks inside the .po files, so strings added to templates after
the last `makemessages` went unnoticed (the alerts page stayed English in Turkish and Dutch).
This test extracts the strings from the templates themselves, the way makemessages does
(`templatize`), and looks each one up in each catalog.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils.translation.template import templatize

from dashboard.services import user_signup

ROOT = Path(settings.BASE_DIR)
CALL = re.compile(r"\b(gettext|pgettext|ngettext|npgettext)\(")
# Strings that read the same in every language (names, codes, formats).
SAME_IN_EVERY_LANGUAGE = {
    "API",
    "OpenAPI",
    "Swagger UI",
    "ReDoc",
    "cURL",
    "Python (requests)",
    "JavaScript (fetch)",
    "webhook",
    "Webhook",
    "%(seconds)s s",
    "Status",
    "Model",
    "Email",
    "Prompt",
    "Veo3",
    "Video",
    "Video: %(prompt)s",
    "Lite",
    "Type",
    "Credits",
    "credits",
    "Filters",
    "Dashboard",
    "Parameters",
    "Seed",
    "ID",
    "Callbacks",
    "Endpoints",
    "Scopes",
    "Upgrades, per video",
    "%(veo3o1_duration)s s, %(veo3o1_resolution)s, model %(veo3o1_model)s",
}


def _calls(code: str) -> list[tuple[str | None, str]]:
    """(context, msgid) of every gettext-family call in templatize's output."""
    found = []
    for match in CALL.finditer(code):
        start = match.start()
        for end in range(match.end(), len(code)):
            if code[end] != ")":
                continue
            try:
                call = ast.parse(code[start : end + 1], mode="eval").body
            except SyntaxError:
                continue
            assert isinstance(call, ast.Call)
            args = [a.value for a in call.args if isinstance(a, ast.Constant)]
            name = match.group(1)
            context = args[0] if name in ("pgettext", "npgettext") else None
            found.append((context, args[1] if context is not None else args[0]))
            break
    return found


def template_strings() -> set[tuple[str | None, str]]:
    strings: set[tuple[str | None, str]] = set()
    for path in (ROOT / "templates").rglob("*.html"):
        strings.update(_calls(templatize(path.read_text(), origin=str(path))))
    return strings


def test_the_extractor_finds_template_strings() -> None:
    strings = template_strings()
    assert (None, "Usage alerts") in strings
    assert (None, "Days start at midnight %(zone)s (daily limits, usage, charts).") in strings
    assert len(strings) > 200


@pytest.mark.parametrize("language", [code for code, _ in settings.LANGUAGES if code != "en"])
def test_every_template_string_is_translated(language: str) -> None:
    polib = pytest.importorskip("polib")
    catalog = polib.pofile(str(ROOT / "locale" / language / "LC_MESSAGES" / "django.po"))
    entries = {(e.msgctxt, e.msgid): e for e in catalog if not e.obsolete}
    missing, empty, untranslated = [], [], []
    for key in sorted(template_strings(), key=lambda k: (k[0] or "", k[1])):
        entry = entries.get(key)
        if entry is None:
            missing.append(key[1])
        elif not entry.translated() or "fuzzy" in entry.flags:
            empty.append(key[1])
        elif entry.msgstr == entry.msgid and entry.msgid not in SAME_IN_EVERY_LANGUAGE:
            untranslated.append(key[1])
    assert (missing, empty, untranslated) == ([], [], []), language


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"), [("tr", "Kayıt kredisi"), ("nl", "Aanmeldcredits"), ("en", "Sign-up")]
)
def test_ledger_notes_and_the_alerts_menu_follow_the_language(language: str, expected: str) -> None:
    user = user_signup(email=f"{language}@example.com", password="a-Long-passw0rd!")
    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    page = client.get("/dashboard/credits/").content.decode()
    assert expected in page
    assert "signup grant" not in page
    alerts = client.get("/dashboard/alerts/").content.decode()
    if language != "en":
        for english in ("Usage alerts", "Create an alert", ">Alerts<"):
            assert english not in alerts, (language, english)
