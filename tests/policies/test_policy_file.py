"""Policy files: the real system's registry and timeline, and precise refusals."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from policies import (
    Category,
    InstitutionKind,
    Policy,
    PolicyError,
    Profession,
    Region,
    bundled_policy_paths,
    default_policy_path,
    load_policy,
)
from tests.policies.builders import BREAK_GLASS, DEFAULT, POLICIES, for_each_policy

DEFAULT_TEXT = default_policy_path().read_text()


def test_three_bundled_policies_default_first() -> None:
    names = [p.name for p in bundled_policy_paths()]
    assert names == ["default.toml", "break-glass.toml", "five-year-lookback.toml"]
    assert [p.name for p in POLICIES] == ["default", "break-glass", "five-year-lookback"]


def test_twenty_designated_mainland_institutions_with_their_dates() -> None:
    mainland = [i for i in DEFAULT.institutions.values() if i.region is Region.MAINLAND]
    assert len(mainland) == 20
    by_date: dict[date | None, int] = {}
    for institution in mainland:
        by_date[institution.designated_on] = by_date.get(institution.designated_on, 0) + 1
    assert by_date == {date(2024, 7, 15): 1, date(2024, 9, 1): 7, date(2025, 8, 1): 12}
    assert DEFAULT.institutions["hku_sz"].designated_on == date(2024, 7, 15)
    assert len(DEFAULT.designated_institutions(date(2024, 8, 31))) == 1
    assert len(DEFAULT.designated_institutions(date(2025, 7, 31))) == 8


def test_three_radiology_depositors_from_27_january_2026() -> None:
    depositors = {
        i.id: i.radiology_depositor_from
        for i in DEFAULT.institutions.values()
        if i.radiology_depositor_from is not None
    }
    assert depositors == dict.fromkeys(
        ["hku_sz", "shenzhen_new_frontier_united_family", "zhongshan_chen_xinghai"],
        date(2026, 1, 27),
    )


def test_twenty_one_voucher_service_points_in_three_phases_and_the_ha_pilot() -> None:
    """The voucher GBA pilot: HKU-Shenzhen Hospital's two points (since 2015), seven
    institutions from June 2024, twelve more from August 2025 (simulation data)."""
    points = [i for i in DEFAULT.institutions.values() if i.voucher_from is not None]
    assert sum(i.voucher_service_points for i in points) == 21
    by_phase: Counter[date | None] = Counter()
    for i in points:
        by_phase[i.voucher_from] += i.voucher_service_points
    assert by_phase == {date(2015, 10, 6): 2, date(2024, 6, 1): 7, date(2025, 8, 1): 12}
    assert not DEFAULT.institutions["hku_sz"].takes_vouchers(date(2015, 10, 5))
    assert DEFAULT.institutions["hku_sz"].takes_vouchers(date(2015, 10, 6))
    pilot = {i.id: i.ha_pilot_from for i in DEFAULT.institutions.values() if i.ha_pilot_from}
    assert pilot == {"hku_sz": date(2023, 5, 10)}


def test_hospital_authority_and_department_of_health_hold_implied_sharing() -> None:
    implied = {i.id for i in DEFAULT.institutions.values() if i.implied_sharing}
    assert implied == {"ha", "dh"}
    private = [i for i in DEFAULT.institutions.values() if i.kind.value.startswith("private")]
    assert len(private) >= 3
    assert all(i.region is Region.HONG_KONG for i in private)


def test_every_profession_has_general_categories() -> None:
    assert set(DEFAULT.general_categories) == {p.value for p in Profession}
    assert DEFAULT.general_categories["clerk"] == {Category.DEMOGRAPHICS, Category.ENCOUNTER}


def test_timeline_of_the_real_system() -> None:
    assert DEFAULT.rules_on(date(2024, 7, 15)).cross_border_min_age == 65
    assert DEFAULT.rules_on(date(2025, 12, 23)).cross_border_processing == timedelta(hours=72)
    assert DEFAULT.rules_on(date(2025, 12, 24)).cross_border_min_age == 0
    assert DEFAULT.rules_on(date(2025, 12, 24)).cross_border_processing == timedelta(0)
    assert DEFAULT.rules_on(date(2025, 11, 30)).deposit_requires_sharing_consent
    assert not DEFAULT.rules_on(date(2025, 12, 1)).deposit_requires_sharing_consent
    assert DEFAULT.rules_on(date(2020, 1, 1)) == DEFAULT.timeline[0]


def test_durations() -> None:
    d = DEFAULT.durations
    assert d.restricted_grant == timedelta(minutes=30)
    assert d.one_year_consent_years == 1
    assert DEFAULT.lookback_years == 3


def test_variants_change_only_what_they_say() -> None:
    five = next(p for p in POLICIES if p.name == "five-year-lookback")
    assert five.lookback_years == 5
    assert BREAK_GLASS.break_glass.enabled and not DEFAULT.break_glass.enabled
    for variant in (five, BREAK_GLASS):
        assert dict(variant.institutions) == dict(DEFAULT.institutions)
        assert variant.timeline == DEFAULT.timeline
        assert dict(variant.general_categories) == dict(DEFAULT.general_categories)


@for_each_policy
def test_sharable_scope_is_the_eleven_ehr_categories(policy: Policy) -> None:
    assert len(policy.sharable_categories) == 11
    assert Category.RADIOLOGY_IMAGES not in policy.sharable_categories
    assert Category.DOCUMENT not in policy.sharable_categories
    assert policy.radiology_categories == {Category.RADIOLOGY_REPORT, Category.RADIOLOGY_IMAGES}


def test_institution_kinds_and_ids() -> None:
    for ident, institution in DEFAULT.institutions.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", ident)
        assert isinstance(institution.kind, InstitutionKind)


# --- refusals ----------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def edit(old: str, new: str, count: int = 1) -> str:
    assert old in DEFAULT_TEXT
    return DEFAULT_TEXT.replace(old, new, count)


def institution_index(ident: str) -> int:
    ids = re.findall(r'^id = "([a-z_]+)"', DEFAULT_TEXT, flags=re.MULTILINE)
    return ids.index(ident)


HKU = institution_index("hku_sz")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "designated_on = 2024-07-15",
            'designated_on = "2024-13-01"',
            f"institutions[{HKU}].designated_on: not a date: '2024-13-01'",
        ),
        ("lookback_years = 3", 'lookback_years = "3"', "lookback_years: not an integer: '3'"),
        ("lookback_years = 3", "lookback_years = -1", "lookback_years: must be at least 0"),
        ("lookback_years = 3", "lookback_yeers = 3", "lookback_yeers: unknown key"),
        (
            "restricted_grant_minutes = 30 ",
            "restricted_grant_minute = 30 ",
            "durations.restricted_grant_minute: unknown key",
        ),
        (
            'clerk = ["demographics", "encounter"]',
            'clerk = ["demographics", "gossip"]',
            "general_categories.clerk[1]: not a category: 'gossip'",
        ),
        (
            'clerk = ["demographics", "encounter"]',
            'janitor = ["demographics"]',
            "general_categories.janitor: unknown key",
        ),
        (
            'Hong Kong-Shenzhen Hospital"\nregion = "mainland"',
            'Hong Kong-Shenzhen Hospital"\nregion = "macau"',
            f"institutions[{HKU}].region: not a region: 'macau'",
        ),
        (
            'id = "matilda"',
            'id = "hksh"',
            f"institutions[{institution_index('matilda')}].id: duplicate id: 'hksh'",
        ),
        (
            'id = "matilda"',
            'id = "Matilda"',
            f"institutions[{institution_index('matilda')}].id: not a snake_case id",
        ),
        (
            "designated_on = 2024-07-15\n",
            "",
            f"institutions[{HKU}].designated_on: missing (required for a mainland institution)",
        ),
        (
            "radiology_depositor_from = 2026-01-27",
            "radiology_depositor_from = 2024-01-27",
            f"institutions[{HKU}].radiology_depositor_from: before designated_on",
        ),
        (
            'kind = "public"\nimplied_sharing = true',
            'kind = "public"\nimplied_sharing = true\ndesignated_on = 2024-01-01',
            f"institutions[{institution_index('ha')}].designated_on: only a mainland institution",
        ),
        (
            'kind = "public"\nimplied_sharing = true',
            'kind = "public"\nimplied_sharing = true\nvoucher_from = 2024-01-01',
            f"institutions[{institution_index('ha')}].voucher_from: only a mainland institution",
        ),
        (
            "voucher_from = 2015-10-06\n",
            "",
            f"institutions[{HKU}].voucher_service_points: needs voucher_from",
        ),
        (
            "voucher_service_points = 2",
            "voucher_service_points = 0",
            f"institutions[{HKU}].voucher_service_points: must be at least 1",
        ),
        (
            "ha_pilot_from = 2023-05-10",
            'ha_pilot_from = "May"',
            f"institutions[{HKU}].ha_pilot_from: not a date",
        ),
        ("starts_on = 2025-12-01", "starts_on = 2024-07-01", "timeline[1].starts_on: not after"),
        (
            "cross_border_min_age = 65\n",
            "",
            "timeline[0].cross_border_min_age: missing",
        ),
        ("enabled = false", "enabled = 0", "break_glass.enabled: not a boolean"),
        ("[radiology]", "[radiologee]", "radiologee: unknown key"),
        ('name = "default"', "", "name: missing"),
        ("lookback_years = 3", "lookback_years = 3 3", "not valid TOML"),
    ],
)
def test_refusals_name_the_file_and_the_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = write(tmp_path, edit(old, new))
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_timeline_date_in_toml_literal_is_checked_by_toml(tmp_path: Path) -> None:
    path = write(tmp_path, edit("starts_on = 2025-12-01", "starts_on = 2025-13-01"))
    with pytest.raises(PolicyError, match=r"x\.toml: not valid TOML"):
        load_policy(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path / "absent.toml")


def test_extends_merges_tables_and_replaces_values(tmp_path: Path) -> None:
    write(tmp_path, DEFAULT_TEXT, "base.toml")
    path = write(
        tmp_path,
        'extends = "base.toml"\nname = "v"\nlookback_years = 10\n'
        "[durations]\nviewing_session_minutes = 5\n",
    )
    policy = load_policy(path)
    assert (policy.name, policy.lookback_years) == ("v", 10)
    assert policy.durations.viewing_session == timedelta(minutes=5)
    assert policy.durations.restricted_grant == timedelta(minutes=30)  # merged, kept
    assert policy.institutions == DEFAULT.institutions


def test_unknown_key_in_a_variant_names_the_variant(tmp_path: Path) -> None:
    write(tmp_path, DEFAULT_TEXT, "base.toml")
    path = write(tmp_path, 'extends = "base.toml"\n[durations]\nviewing_sessions_minutes = 5\n')
    with pytest.raises(PolicyError, match=r"x\.toml: durations\.viewing_sessions_minutes: unknown"):
        load_policy(path)


def test_extends_cycle_is_refused(tmp_path: Path) -> None:
    write(tmp_path, 'extends = "b.toml"\n', "a.toml")
    write(tmp_path, 'extends = "a.toml"\n', "b.toml")
    with pytest.raises(PolicyError, match="extends: cycle"):
        load_policy(tmp_path / "a.toml")


def test_extends_missing_base(tmp_path: Path) -> None:
    path = write(tmp_path, 'extends = "nowhere.toml"\n')
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(path)
