"""Every page in German: no English string of the catalogue left in what a visitor reads, <html lang="de">, the
language switcher, and numbers with a decimal comma on the page but a dot wherever a program reads them."""
from __future__ import annotations

import html
import json
import re
from functools import cache
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.a11y.test_pages import member_pages, public_pages
from tests.leaderboard.conftest import Board, board  # noqa: F401  (the fixture)

PO = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.po"
GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de"}
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]")
# Names German keeps in English ("wie beim Open LLM Leaderboard"), taken out before looking for English.
PROPER_NAMES = ("Open LLM Leaderboard", "Adding Error Bars to Evals", "Community Licence")
# Attributes people read (tooltips, screen-reader labels, placeholders) count as visible text.
READ_ATTRIBUTES = re.compile(r'\s(?:title|aria-label|placeholder|alt)="([^"]*)"')


def visible_text(page: str) -> str:
    """Text nodes and read attributes, without scripts, styles, preformatted data (configurations, code)."""
    page = re.sub(r"<(script|style|pre)\b.*?</\1>", " ", page, flags=re.S | re.I)
    attributes = " ".join(READ_ATTRIBUTES.findall(page))
    text = normalised(re.sub(r"<[^>]+>", " ", page) + " " + attributes)
    for name in PROPER_NAMES:
        text = text.replace(name, " ")
    return text


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text))).strip()


@cache
def english_patterns() -> list[tuple[str, re.Pattern]]:
    """The catalogue's English strings that German changes, as patterns over visible text: the longest stretch
    between placeholders, as whole words. Left out: strings German keeps as they are (Name, Status, Benchmark),
    strings that are also some German translation (Profile), and stretches of fewer than four letters."""
    catalogue = [entry for entry in polib.pofile(str(PO)) if not entry.obsolete]
    german = {normalised(text.replace("%%", "%")) for entry in catalogue
              for text in ([entry.msgstr] if not entry.msgid_plural else entry.msgstr_plural.values())}
    patterns = []
    for entry in catalogue:
        forms = [(entry.msgid, entry.msgstr)] if not entry.msgid_plural else [
            (entry.msgid, entry.msgstr_plural[0]), (entry.msgid_plural, entry.msgstr_plural[1])]
        for english, translation in forms:
            english = normalised(english.replace("%%", "%"))
            if english == normalised(translation.replace("%%", "%")) or english in german:
                continue
            stretch = max((part.strip(" ,.;:") for part in PLACEHOLDER.split(english)), key=len)
            if sum(ch.isalpha() for ch in stretch) < 4:
                continue
            # Whole words, and not parts of paths or identifiers (/models/alpha.gguf, model-name).
            before = r"(?<![\w/-])" if stretch[0].isalnum() else ""
            after = r"(?![\w/-])" if stretch[-1].isalnum() else ""
            patterns.append((english, re.compile(before + re.escape(stretch) + after)))
    return patterns


def english_left(page: str) -> list[str]:
    text = visible_text(page)
    return [english for english, pattern in english_patterns() if pattern.search(text)]


def german_page(client: Client, url: str) -> str:
    response = client.get(url, **GERMAN)
    assert response.status_code == 200, f"{url}: HTTP {response.status_code}"
    page = response.content.decode()
    assert '<html lang="de">' in page, url
    return page


def test_every_page_in_german_has_no_english_string_of_the_catalogue(client: Client, board: Board):  # noqa: F811
    users = get_user_model().objects
    member = users.create_user("member", "member@example.org", "pw")
    staff = users.create_user("moderator", "moderator@example.org", "pw", is_staff=True)
    problems = {}
    for path in public_pages(board):
        problems[path] = english_left(german_page(client, path))
    client.force_login(member)
    for path in [reverse("leaderboard:index"), *member_pages()]:
        problems[f"{path} (member)"] = english_left(german_page(client, path))
    client.force_login(staff)
    for path in [reverse("leaderboard:index"), reverse("community:moderation")]:
        problems[f"{path} (staff)"] = english_left(german_page(client, path))
    found = {path: strings for path, strings in problems.items() if strings}
    assert not found, "English left on German pages:\n" + "\n".join(f"{path}: {strings}"
                                                                   for path, strings in found.items())


def test_the_check_sees_english_where_the_page_is_english(client: Client, board: Board):  # noqa: F811
    """The check above is not vacuous: the same pages in English are full of the catalogue's strings."""
    page = client.get(reverse("leaderboard:run_detail", args=[board.alpha_run.pk])).content.decode()
    assert '<html lang="en">' in page
    left = english_left(page)
    assert {"Dataset and task spec hashes", "Prompt, output and metrics", "Page %(number)s of %(pages)s"} <= set(left)


def test_the_switcher_sets_german_and_back(client: Client, board: Board):  # noqa: F811
    index = reverse("leaderboard:index")
    page = client.get(index).content.decode()
    assert 'action="/i18n/setlang/"' in page and '<label for="language-select">Language</label>' in page

    response = client.post(reverse("set_language"), {"language": "de", "next": index})
    assert response.status_code == 302 and response["Location"] == index
    page = client.get(index).content.decode()
    assert '<html lang="de">' in page and "<h1>Bestenliste</h1>" in page
    assert '<option value="de" lang="de" selected>Deutsch</option>' in page

    client.post(reverse("set_language"), {"language": "en", "next": index})
    page = client.get(index, **GERMAN).content.decode()  # the choice outranks the browser's language
    assert '<html lang="en">' in page and "<h1>Leaderboard</h1>" in page


def test_numbers_have_a_decimal_comma_on_german_pages_and_a_dot_for_programs(client: Client, board: Board):  # noqa: F811
    index = reverse("leaderboard:index")
    english, german = client.get(index).content.decode(), client.get(index, **GERMAN).content.decode()
    # alpha's arc_easy acc_norm, 0.80, in percent
    assert ">80.0</a>" in english and ">80,0</a>" in german and ">80.0</a>" not in german
    # The heat-map's plotly JSON stays JSON.
    heatmap = re.search(r'data-chart="heatmap">(.*?)</figure>', german, re.S).group(1)
    assert "0.8" in heatmap and "0,8" not in heatmap

    download = client.get(reverse("leaderboard:leaderboard_download", args=["json"]), **GERMAN).content.decode()
    json.loads(download)
    assert "0.8" in download and "0,8" not in download

    costs = client.get(reverse("costing:costs"), **GERMAN).content.decode()
    # A numeric input's value stays a number the browser can parse.
    assert re.search(r'name="pue" min="1" step="any" value="1\.2"', costs)


def test_websocket_fragments_use_the_language_of_the_page_that_opened_them():
    from leaderboard.consumers import render_for, scope_language

    assert scope_language({"headers": [(b"accept-language", b"de-DE,de;q=0.9,en;q=0.8")]}) == "de"
    assert scope_language({"cookies": {"django_language": "en"},
                           "headers": [(b"accept-language", b"de")]}) == "en"  # the switcher's choice first
    assert scope_language({"headers": [(b"accept-language", b"fr")]}) == settings.LANGUAGE_CODE
    fragment = render_for({"headers": [(b"accept-language", b"de")]}, "leaderboard/_live_runs.html", {"rows": []})
    assert "Keine wartenden oder laufenden öffentlichen Läufe." in fragment
