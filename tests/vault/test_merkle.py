"""RFC 9162 Merkle trees: the root is the RFC's MTH, and every inclusion path verifies
with the RFC's algorithm — and nothing else does (another leaf, index, size or root)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from vault.audit.merkle import EMPTY_ROOT, Tree, included, leaf_hash, node_hash


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, literally (the reference the tree is checked against)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


LEAVES = st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=40, unique=True)


def test_known_roots() -> None:
    a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert Tree([]).root() == EMPTY_ROOT
    assert Tree([a]).root() == a
    assert Tree([a, b, c]).root() == node_hash(node_hash(a, b), c)


@given(LEAVES)
def test_the_root_is_the_rfcs_tree_hash(data: list[bytes]) -> None:
    hashes = [leaf_hash(d) for d in data]
    assert Tree(hashes).root() == mth(hashes)


@given(LEAVES, st.data())
def test_every_leaf_is_proved_and_only_it(data: list[bytes], draw: st.DataObject) -> None:
    hashes = [leaf_hash(d) for d in data]
    tree = Tree(hashes)
    root, size = tree.root(), tree.size
    index = draw.draw(st.integers(0, size - 1))
    path = tree.path(index)
    assert included(index, size, hashes[index], path, root)
    assert not included(index, size, leaf_hash(b"\xff" * 9), path, root)  # another leaf
    if size > 1:
        other = draw.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        assert not included(other, size, hashes[index], path, root)
        bent = [bytes(32), *path[1:]]
        assert not included(index, size, hashes[index], bent, root)
        assert not included(index, size, hashes[index], path[:-1], root)
