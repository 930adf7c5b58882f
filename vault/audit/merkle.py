"""Merkle trees in the form of RFC 9162 (Certificate Transparency 2.0), section 2.1.

``MTH({}) = SHA-256()``, ``MTH({d0}) = SHA-256(0x00 ‖ d0)``, and for ``n > 1`` leaves
``MTH(D[n]) = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n]))`` with ``k`` the largest power of
two smaller than ``n``. An inclusion proof is the RFC's ``PATH(m, D[n])``; it is checked
with the verification algorithm of section 2.1.3.2, which needs nothing but the leaf, its
index, the tree size, the path and the root — what a person does offline.

:class:`Tree` keeps every complete, aligned subtree's hash (level by level), so a path is
``O(log² n)`` hashes after one ``O(n)`` build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    """The tree over ``leaf_hashes`` (already ``leaf_hash``-ed), in order."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.size = len(leaf_hashes)
        self._levels: list[list[bytes]] = [list(leaf_hashes)]
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            self._levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    def root(self) -> bytes:
        return EMPTY_ROOT if self.size == 0 else self._hash(0, self.size)

    def _hash(self, start: int, n: int) -> bytes:
        """MTH of leaves ``start .. start + n``."""
        if n & (n - 1) == 0 and start % n == 0:  # a complete aligned subtree: kept
            return self._levels[n.bit_length() - 1][start // n]
        k = _split(n)
        return node_hash(self._hash(start, k), self._hash(start + k, n - k))

    def path(self, index: int) -> list[bytes]:
        """``PATH(index, D[size])``: the sibling hashes from the leaf up."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is not in a tree of {self.size}")
        return self._path(index, 0, self.size)

    def _path(self, m: int, start: int, n: int) -> list[bytes]:
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, start, k), self._hash(start + k, n - k)]
        return [*self._path(m - k, start + k, n - k), self._hash(start, k)]


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    return Tree(leaf_hashes).root()


def included(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162, 2.1.3.2: does ``path`` prove leaf hash ``leaf`` at ``index`` of a tree of
    ``size`` leaves with ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root
