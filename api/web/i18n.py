"""Languages: English (the msgids) and Traditional Chinese (``locale/zh_Hant``, gettext).

The catalogue's ``.po`` is the one source (``make catalogues`` extracts the msgids and
updates it); it is compiled in memory on first use. Dates are shown
as Hong Kong dates (UTC+8, no daylight saving since 1979) in the page's language, with
Babel's CLDR formats.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
HONG_KONG = timezone(timedelta(hours=8), "HKT")


@dataclass(frozen=True)
class Language:
    code: str  # the cookie's value and the page's ``lang``
    catalogue: str | None  # the gettext locale directory's name; None: the msgids
    cldr: str  # Babel's locale for dates
    label: str  # its own name, shown in the switch


LANGUAGES = (
    Language("en", None, "en_HK", "English"),
    Language("zh-Hant", "zh_Hant", "zh_Hant_HK", "繁體中文"),
)
BY_CODE = {lang.code: lang for lang in LANGUAGES}
DEFAULT = LANGUAGES[0]


def language(code: str | None) -> Language:
    return BY_CODE.get(code or "", DEFAULT)


def compiled(name: str) -> bytes:
    """Catalogue ``name`` compiled from its ``.po`` (in memory: nothing is written next
    to the installed package)."""
    with (LOCALE_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        catalog = read_po(source, locale=name)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


@cache
def translations(code: str) -> gettext.NullTranslations:
    lang = language(code)
    if lang.catalogue is None:
        return gettext.NullTranslations()
    return gettext.GNUTranslations(io.BytesIO(compiled(lang.catalogue)))


def hk_datetime(value: datetime | None, lang: Language) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(HONG_KONG)
    shown = format_date(local, "medium", locale=lang.cldr)
    return f"{shown} {format_time(local, 'short', locale=lang.cldr)} HKT"


def hk_date(value: date | None, lang: Language) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(HONG_KONG)
    return format_date(value, "medium", locale=lang.cldr)
