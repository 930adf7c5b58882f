"""The keyring: file safety, every bad-keyring refusal, rotation, retirement, first run."""

from __future__ import annotations

import base64
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from vault.core.errors import DecryptionFailed, KeyringError
from vault.crypto.aad import data_key as data_key_aad
from vault.crypto.envelope import KEY_SIZE
from vault.keys.keyring import KEYRING_FILENAME, KeyEncryptionKeys, LocalKeyring, open_keyring

DATA_KEY = bytes(range(KEY_SIZE))
AAD = data_key_aad("person-1", 1)


@pytest.fixture(scope="module")
def shared_keyring_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keyring") / KEYRING_FILENAME
    LocalKeyring.create(path)
    return path


@pytest.fixture(scope="module")
def shared_keyring(shared_keyring_file: Path) -> LocalKeyring:
    return LocalKeyring.load(shared_keyring_file)


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    path = tmp_path / KEYRING_FILENAME
    LocalKeyring.create(path)
    return path


def document(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def rewrite(path: Path, content: bytes) -> None:
    """Replace the file's content, keeping it 0600 (as a careless restore would)."""
    path.write_bytes(content)
    path.chmod(0o600)


def assert_refused(path: Path, *, mentions: str) -> None:
    with pytest.raises(KeyringError) as refusal:
        LocalKeyring.load(path)
    message = str(refusal.value)
    assert "\n" not in message and mentions in message


# -- create and load -------------------------------------------------------------------


def test_created_keyring_loads_back_the_same(keyring_file: Path) -> None:
    created, loaded = LocalKeyring.load(keyring_file), LocalKeyring.load(keyring_file)
    version, wrapped = created.wrap(DATA_KEY, aad=AAD)
    assert loaded.unwrap(version, wrapped, aad=AAD) == DATA_KEY
    assert (loaded.current_version, loaded.versions(), loaded.path) == (1, (1,), keyring_file)
    assert loaded.signing_kid() == created.signing_kid()
    assert loaded.signing_key_pem() == created.signing_key_pem()


def test_create_returns_a_keyring_matching_its_file(tmp_path: Path) -> None:
    created = LocalKeyring.create(tmp_path / KEYRING_FILENAME)
    version, wrapped = created.wrap(DATA_KEY, aad=AAD)
    loaded = LocalKeyring.load(tmp_path / KEYRING_FILENAME)
    assert loaded.unwrap(version, wrapped, aad=AAD) == DATA_KEY


def test_keyring_files_are_0600_and_leave_no_temp_files(keyring_file: Path) -> None:
    assert stat.S_IMODE(keyring_file.stat().st_mode) == 0o600
    LocalKeyring.load(keyring_file).add_version()
    assert stat.S_IMODE(keyring_file.stat().st_mode) == 0o600
    assert os.listdir(keyring_file.parent) == [KEYRING_FILENAME]


def test_create_never_overwrites(keyring_file: Path) -> None:
    before = keyring_file.read_bytes()
    with pytest.raises(KeyringError, match="already exists"):
        LocalKeyring.create(keyring_file)
    assert keyring_file.read_bytes() == before


def test_a_keyring_conforms_to_the_kms_interface(shared_keyring: LocalKeyring) -> None:
    kek: KeyEncryptionKeys = shared_keyring
    assert kek.current_version in kek.versions()


def test_key_material_never_shows_in_repr(shared_keyring_file: Path) -> None:
    keyring = LocalKeyring.load(shared_keyring_file)
    key = document(shared_keyring_file)["keys"][0]["key"]
    assert key not in repr(keyring) and key not in str(keyring)


# -- every bad keyring is refused in one line ------------------------------------------------

Edit = Callable[[dict[str, Any]], object]
BAD_DOCUMENTS: dict[str, tuple[Edit, str]] = {
    "wrong format": (lambda d: d.update(format="something-else"), "not a crossvault keyring"),
    "future format version": (lambda d: d.update(format_version=2), "format version 2"),
    "short key": (
        lambda d: d["keys"][0].update(key=base64.b64encode(bytes(16)).decode()),
        "16 bytes",
    ),
    "key not base64": (lambda d: d["keys"][0].update(key="not base64!"), "not base64"),
    "no current version": (lambda d: d.pop("current"), "no current key version"),
    "current not held": (lambda d: d.update(current=7), "version 7"),
    "duplicate versions": (lambda d: d["keys"].append(dict(d["keys"][0])), "version 1 twice"),
    "no keys": (lambda d: d.pop("keys"), "'keys'"),
    "version not a number": (lambda d: d["keys"][0].update(version="1"), "'version'"),
    "bad timestamp": (lambda d: d["keys"][0].update(created_at="yesterday"), "timestamp"),
    "no signing key": (lambda d: d.pop("signing"), "'signing'"),
    "signing kid mismatch": (lambda d: d["signing"].update(kid="AAAA"), "kid"),
    "signing key not PEM": (lambda d: d["signing"].update(private_key_pem="junk"), "PEM"),
    "retired key kept": (
        lambda d: d["keys"][0].update(retired=True),
        "still holds key material",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_a_bad_keyring_document_is_refused(keyring_file: Path, case: str) -> None:
    edit, mentions = BAD_DOCUMENTS[case]
    changed = document(keyring_file)
    edit(changed)
    rewrite(keyring_file, json.dumps(changed).encode())
    assert_refused(keyring_file, mentions=mentions)


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (b"", "truncated"),
        (b'{"format": "crossvault-keyring", "keys": [', "truncated"),
        (b"this is not json", "not valid JSON"),
        (b"[1, 2, 3]", "not a crossvault keyring"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_an_unreadable_keyring_is_refused(
    keyring_file: Path, content: bytes, mentions: str
) -> None:
    rewrite(keyring_file, content)
    assert_refused(keyring_file, mentions=mentions)


def test_a_signing_key_on_another_curve_is_refused(keyring_file: Path) -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    changed = document(keyring_file)
    changed["signing"]["private_key_pem"] = pem.decode()
    rewrite(keyring_file, json.dumps(changed).encode())
    assert_refused(keyring_file, mentions="P-256")


def test_a_missing_keyring_is_refused(tmp_path: Path) -> None:
    assert_refused(tmp_path / KEYRING_FILENAME, mentions="missing")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o602, 0o620, 0o700])
def test_a_keyring_others_can_access_is_refused(keyring_file: Path, mode: int) -> None:
    keyring_file.chmod(mode)
    if mode & 0o077:
        assert_refused(keyring_file, mentions=f"chmod 600 {keyring_file}")
    else:
        LocalKeyring.load(keyring_file)


@pytest.fixture(scope="module")
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


@given(data=st.data())
def test_a_truncated_keyring_is_refused_wherever_it_was_cut(
    shared_keyring_file: Path, scratch_dir: Path, data: st.DataObject
) -> None:
    content = shared_keyring_file.read_bytes().rstrip()
    cut = data.draw(st.integers(0, len(content) - 1), label="cut")
    damaged = scratch_dir / "truncated.json"
    rewrite(damaged, content[:cut])
    with pytest.raises(KeyringError) as refusal:
        LocalKeyring.load(damaged)
    assert "\n" not in str(refusal.value)


@given(data=st.data())
def test_a_damaged_keyring_either_loads_or_is_refused_in_one_line(
    shared_keyring_file: Path, scratch_dir: Path, data: st.DataObject
) -> None:
    content = bytearray(shared_keyring_file.read_bytes())
    where = data.draw(st.integers(0, len(content) - 1), label="byte")
    content[where] = data.draw(st.integers(0, 255), label="value")
    damaged = scratch_dir / "damaged.json"
    rewrite(damaged, bytes(content))
    try:
        LocalKeyring.load(damaged)
    except KeyringError as refusal:
        assert "\n" not in str(refusal)


# -- wrapping ----------------------------------------------------------------------------


@given(data_key=st.binary(min_size=KEY_SIZE, max_size=KEY_SIZE), data=st.data())
def test_any_single_bit_flip_in_a_wrapped_key_fails(
    shared_keyring: LocalKeyring, data_key: bytes, data: st.DataObject
) -> None:
    version, wrapped = shared_keyring.wrap(data_key, aad=AAD)
    assert shared_keyring.unwrap(version, wrapped, aad=AAD) == data_key
    bit = data.draw(st.integers(0, len(wrapped) * 8 - 1), label="bit")
    damaged = bytearray(wrapped)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DecryptionFailed):
        shared_keyring.unwrap(version, bytes(damaged), aad=AAD)


@given(
    person=st.text(max_size=8),
    version=st.integers(0, 5),
)
def test_a_wrapped_key_moved_to_another_person_or_version_fails(
    shared_keyring: LocalKeyring, person: str, version: int
) -> None:
    if (person, version) == ("person-1", 1):
        return
    current, wrapped = shared_keyring.wrap(DATA_KEY, aad=AAD)
    with pytest.raises(DecryptionFailed):
        shared_keyring.unwrap(current, wrapped, aad=data_key_aad(person, version))


@pytest.mark.parametrize("version", [0, 2, -1, 10**6])
def test_an_unknown_version_fails_to_unwrap(shared_keyring: LocalKeyring, version: int) -> None:
    _, wrapped = shared_keyring.wrap(DATA_KEY, aad=AAD)
    with pytest.raises(DecryptionFailed):
        shared_keyring.unwrap(version, wrapped, aad=AAD)


def test_only_data_keys_are_wrapped(shared_keyring: LocalKeyring) -> None:
    with pytest.raises(ValueError):
        shared_keyring.wrap(b"short", aad=AAD)


# -- rotation and retirement -------------------------------------------------------------


def test_a_new_version_wraps_while_old_ones_still_unwrap(keyring_file: Path) -> None:
    keyring = LocalKeyring.load(keyring_file)
    old_version, old_wrapped = keyring.wrap(DATA_KEY, aad=AAD)
    assert keyring.add_version() == 2
    new_version, new_wrapped = keyring.wrap(DATA_KEY, aad=AAD)
    assert (new_version, keyring.current_version, keyring.versions()) == (2, 2, (1, 2))
    reloaded = LocalKeyring.load(keyring_file)
    assert reloaded.unwrap(old_version, old_wrapped, aad=AAD) == DATA_KEY
    assert reloaded.unwrap(new_version, new_wrapped, aad=AAD) == DATA_KEY


def test_a_retired_version_is_destroyed(keyring_file: Path) -> None:
    keyring = LocalKeyring.load(keyring_file)
    old_key = document(keyring_file)["keys"][0]["key"]
    version, wrapped = keyring.wrap(DATA_KEY, aad=AAD)
    keyring.add_version()
    keyring.retire(version)
    keyring.retire(version)  # idempotent: a resumed rotation may retire twice
    assert keyring.versions() == (2,)
    assert old_key not in keyring_file.read_text()
    for holder in (keyring, LocalKeyring.load(keyring_file)):
        with pytest.raises(DecryptionFailed):
            holder.unwrap(version, wrapped, aad=AAD)
    assert keyring.add_version() == 3  # a retired number is never reused


@pytest.mark.parametrize("version", [1, 9])
def test_the_current_or_an_unknown_version_cannot_be_retired(
    keyring_file: Path, version: int
) -> None:
    keyring = LocalKeyring.load(keyring_file)
    with pytest.raises(KeyringError):
        keyring.retire(version)
    assert keyring.versions() == (1,)


# -- the keyring from the environment --------------------------------------------------------


@pytest.mark.parametrize(
    "encode", [bytes.decode, lambda content: base64.b64encode(content).decode()]
)
def test_the_environment_keyring_is_json_or_base64(
    shared_keyring_file: Path, shared_keyring: LocalKeyring, encode: Callable[[bytes], str]
) -> None:
    from_env = LocalKeyring.from_env(encode(shared_keyring_file.read_bytes()))
    version, wrapped = shared_keyring.wrap(DATA_KEY, aad=AAD)
    assert from_env.unwrap(version, wrapped, aad=AAD) == DATA_KEY
    assert from_env.path is None
    assert from_env.signing_kid() == shared_keyring.signing_kid()


def test_the_environment_keyring_is_read_only(shared_keyring_file: Path) -> None:
    from_env = LocalKeyring.from_env(shared_keyring_file.read_text())
    with pytest.raises(KeyringError, match="read-only"):
        from_env.add_version()
    assert from_env.versions() == (1,)


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("", "empty"),
        ("%%% not base64 %%%", "neither keyring JSON nor base64"),
        ('{"format": "crossvault-keyring"', "truncated"),
        (base64.b64encode(b"[]").decode(), "not a crossvault keyring"),
    ],
)
def test_a_bad_environment_keyring_is_refused(value: str, mentions: str) -> None:
    with pytest.raises(KeyringError) as refusal:
        LocalKeyring.from_env(value)
    assert "\n" not in str(refusal.value) and mentions in str(refusal.value)


# -- the JWT signing key -------------------------------------------------------------------


def test_the_signing_key_is_p256_and_named_by_its_kid(shared_keyring: LocalKeyring) -> None:
    private_key = serialization.load_pem_private_key(shared_keyring.signing_key_pem(), None)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    assert isinstance(private_key.curve, ec.SECP256R1)
    signature = private_key.sign(b"a JWT", ec.ECDSA(hashes.SHA256()))
    private_key.public_key().verify(signature, b"a JWT", ec.ECDSA(hashes.SHA256()))
    kid = shared_keyring.signing_kid()
    assert len(kid) == 16 and kid.isascii() and "=" not in kid


# -- first run ---------------------------------------------------------------------------


def test_first_run_creates_the_keyring(tmp_path: Path) -> None:
    keyring = open_keyring(tmp_path / "data", env_value=None, may_create=True)
    assert keyring.path == tmp_path / "data" / KEYRING_FILENAME
    assert LocalKeyring.load(keyring.path).signing_kid() == keyring.signing_kid()


def test_a_missing_keyring_is_never_regenerated_over_existing_data(tmp_path: Path) -> None:
    with pytest.raises(KeyringError) as refusal:
        open_keyring(tmp_path, env_value=None, may_create=False)
    assert "refusing to generate" in str(refusal.value) and "\n" not in str(refusal.value)
    assert not (tmp_path / KEYRING_FILENAME).exists()


@pytest.mark.parametrize("may_create", [True, False])
def test_an_existing_keyring_is_loaded_never_replaced(keyring_file: Path, may_create: bool) -> None:
    before = keyring_file.read_bytes()
    keyring = open_keyring(keyring_file.parent, env_value=None, may_create=may_create)
    assert keyring.signing_kid() == LocalKeyring.load(keyring_file).signing_kid()
    assert keyring_file.read_bytes() == before


@pytest.mark.parametrize("may_create", [True, False])
def test_a_corrupt_keyring_is_refused_never_replaced(keyring_file: Path, may_create: bool) -> None:
    rewrite(keyring_file, b'{"format": "crossvault-keyring"')
    with pytest.raises(KeyringError, match="truncated"):
        open_keyring(keyring_file.parent, env_value=None, may_create=may_create)
    assert keyring_file.read_bytes() == b'{"format": "crossvault-keyring"'


def test_the_environment_wins_over_the_file(keyring_file: Path, shared_keyring_file: Path) -> None:
    keyring = open_keyring(
        keyring_file.parent, env_value=shared_keyring_file.read_text(), may_create=True
    )
    assert keyring.path is None
    assert keyring.signing_kid() == LocalKeyring.load(shared_keyring_file).signing_kid()
