"""The German catalogue is complete and compiled: every string makemessages extracts has a German translation
(none empty, none fuzzy), and the committed .mo holds exactly what the committed .po says."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale"
PO = LOCALE / "de" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# What `makemessages` leaves out (README, Languages): the engine (no Django), tests, benchmarks, docs and static
# files; folders starting with a dot (.venv, .git) are skipped by makemessages itself.
IGNORED = ("var", "tests", "bench", "docs", "static", "runner")


def entries(catalogue: polib._BaseFile) -> dict[tuple[str | None, str], str | tuple[str, ...]]:
    return {(entry.msgctxt, entry.msgid): tuple(entry.msgstr_plural[n] for n in sorted(entry.msgstr_plural))
            if entry.msgid_plural else entry.msgstr
            for entry in catalogue if not entry.obsolete}


def extracted(tmp_path: Path) -> polib.POFile:
    """What makemessages -l de finds in the code now, run on a copy so the committed catalogue is untouched."""
    root = Path(settings.BASE_DIR)
    copy = tmp_path / "src"
    copy.mkdir()
    for item in root.iterdir():
        if item.name.startswith(".") or item.name in (*IGNORED, "locale"):
            continue
        if item.is_dir():
            shutil.copytree(item, copy / item.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif item.suffix == ".py":
            shutil.copy2(item, copy / item.name)
    (copy / "locale").mkdir()
    command = [sys.executable, "manage.py", "makemessages", "-l", "de", *(f"--ignore={name}" for name in IGNORED)]
    subprocess.run(command, cwd=copy, check=True, capture_output=True, text=True,
                   env={"PATH": "/usr/bin:/bin", "BENCHSITE_VAR_DIR": str(tmp_path / "var"),
                        "DJANGO_SETTINGS_MODULE": "benchsite.settings"})
    return polib.pofile(str(copy / "locale" / "de" / "LC_MESSAGES" / "django.po"))


@pytest.mark.skipif(shutil.which("xgettext") is None,
                    reason="needs GNU gettext's xgettext to extract strings (apt-get install gettext)")
def test_every_extracted_string_has_a_german_translation(tmp_path):
    fresh = entries(extracted(tmp_path))
    committed = entries(polib.pofile(str(PO)))

    missing = sorted(msgid for context, msgid in fresh if (context, msgid) not in committed)
    assert not missing, f"{len(missing)} strings are not in {PO.relative_to(settings.BASE_DIR)} (run makemessages " \
                        f"and translate them): {missing[:20]}"
    stale = sorted(msgid for context, msgid in committed if (context, msgid) not in fresh)
    assert not stale, f"strings no longer in the code (run makemessages): {stale[:20]}"


def test_no_german_translation_is_empty_or_fuzzy():
    catalogue = polib.pofile(str(PO))
    fuzzy = [entry.msgid for entry in catalogue if "fuzzy" in entry.flags and not entry.obsolete]
    empty = [msgid for (_, msgid), msgstr in entries(catalogue).items()
             if (not all(msgstr) if isinstance(msgstr, tuple) else not msgstr)]
    assert not fuzzy, f"fuzzy: {fuzzy[:20]}"
    assert not empty, f"untranslated: {empty[:20]}"
    assert catalogue.metadata["Language"] == "de" and "nplurals=2" in catalogue.metadata["Plural-Forms"]


def test_the_committed_mo_matches_the_po():
    """compilemessages was run after the last edit: the site reads the .mo, and CI has no msgfmt to rebuild it."""
    compiled = {key: value for key, value in entries(polib.mofile(str(MO))).items() if key[1]}
    assert compiled == entries(polib.pofile(str(PO))), "locale/de/LC_MESSAGES/django.mo is out of date: run manage.py compilemessages"
