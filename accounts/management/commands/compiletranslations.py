"""Compile the dashboard's translations (LOCALE_PATHS/*/LC_MESSAGES/django.po → .mo) in pure
Python, with polib, so no GNU gettext is needed (Django's compilemessages calls msgfmt).

The compiled .mo files are committed; run this after editing a .po file (a test fails while
a committed .mo differs from its .po). `--check` only reports stale catalogs (exit 1).
Updating the .po files from the sources still uses `manage.py makemessages` (GNU gettext).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def catalogs() -> list[Path]:
    return sorted(
        p for root in settings.LOCALE_PATHS for p in Path(root).glob("*/LC_MESSAGES/django.po")
    )


def compiled(po_path: Path) -> bytes:
    """The .mo bytes for a .po file (fuzzy and untranslated entries left out, as msgfmt)."""
    import polib  # a development dependency: only needed to rebuild the committed catalogs

    return polib.pofile(str(po_path)).to_binary()


class Command(BaseCommand):
    help = "Compile locale/*/LC_MESSAGES/django.po into .mo files without GNU gettext."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only report .mo files that differ from their .po (exit 1).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stale = []
        for po_path in catalogs():
            mo_path = po_path.with_suffix(".mo")
            data = compiled(po_path)
            if mo_path.exists() and mo_path.read_bytes() == data:
                continue
            stale.append(mo_path)
            if not options["check"]:
                mo_path.write_bytes(data)
                self.stdout.write(f"compiled {mo_path}")
        if options["check"] and stale:
            raise CommandError("stale: " + ", ".join(str(p) for p in stale))
