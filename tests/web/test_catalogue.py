"""The web app's strings: every one the templates and pages use is in the 繁體中文
catalogue, translated, with the same placeholders; dates are Hong Kong dates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from api.web import i18n

ROOT = Path(__file__).parents[2]
PO = ROOT / "api/web/locale/zh_Hant/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _used() -> set[str]:
    methods = [("api/web/**.py", "python"), ("api/web/templates/**.html", "jinja2")]
    found = extract_from_dir(str(ROOT), methods, keywords={"_": None, "N_": None}, comment_tags=())
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def _string(found: Message | None) -> str:
    return found.string if found is not None and isinstance(found.string, str) else ""


def test_every_string_is_translated_with_its_placeholders() -> None:
    with PO.open("rb") as handle:
        catalogue = read_po(handle)
    used = _used()
    assert len(used) > 150
    translated = {m: _string(catalogue.get(m)) for m in used}
    missing = [m for m, t in translated.items() if not t]
    assert not missing, f"untranslated (run `make catalogues`): {missing}"
    for message in used:
        assert set(PLACEHOLDER.findall(message)) == set(PLACEHOLDER.findall(translated[message])), (
            message
        )
    zh = i18n.translations("zh-Hant")
    assert zh.gettext("Records") == "記錄"
    assert i18n.translations("en").gettext("Records") == "Records"


def test_dates_are_hong_kong_dates_in_the_page_language() -> None:
    late = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # already 2 March in Hong Kong
    en, zh = i18n.language("en"), i18n.language("zh-Hant")
    assert i18n.hk_datetime(late, en) == "2 Mar 2026 1:30\u202fam HKT"
    assert i18n.hk_datetime(late, zh) == "2026年3月2日 上午1:30 HKT"
    assert i18n.hk_date(late, en) == "2 Mar 2026"
    assert i18n.hk_date(date(2024, 2, 29), zh) == "2024年2月29日"
    assert i18n.language("klingon") is i18n.DEFAULT
