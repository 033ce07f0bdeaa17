"""Long runs of numbers and strings as raw sections, for the on-disk index (bot/cache.py).

Most of the index is runs: hundreds of thousands of weights, tens of thousands of feature
names, the topics' text. As JSON they took most of a cached `platbot ask` to read. A `Packer`
lays each run end to end in one blob, as a section: little-endian numbers of one array type
code, or UTF-8 strings separated by NUL. The rest of the data names a section by its number.
`Sections` reads them back from that blob: numbers without a copy (a memoryview over it, read
an item at a time when asked), strings with one decode and one split.

Keys (`Packer.keys`, `Sections.keys`) are strings looked up by value, such as a classifier's
features: a question looks up a few hundred of tens of thousands, and a dict of them all cost
more to build than everything else a cached start does. They come with an open-addressing
table of their CRC-32s, written with them, so a lookup hashes the question's string and
compares bytes where the table points.

The section table is checked when it is read: every section lies inside the blob and holds
whole items of its type. A section's content is checked by whoever reads it, for the shape
it needs (the cache's checksum guards against accidents).
"""

from __future__ import annotations

import array
import itertools
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

STRINGS = "s"  # a section of strings; any other code is an array type code
# Numbers: class and topic indexes ("B", "H", "i", the smallest that holds them), ends of runs
# ("i") and weights ("d": float64, exact).
INDEXES = "BHi"
_NUMBER_CODES = frozenset("BHiqd")
_BIG_ENDIAN = sys.byteorder == "big"

Entry = tuple[str, int, int, int]  # code, start in the blob, size in bytes, count of items


def index_code(largest: int) -> str:
    """The smallest array type code of INDEXES that holds indexes up to `largest`."""
    return "B" if largest < 1 << 8 else "H" if largest < 1 << 16 else "i"


class Packer:
    """Collects the sections of one blob, in the order they are added."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._table: list[Entry] = []
        self._size = 0

    def numbers(self, code: str, values: Iterable[Any]) -> int:
        """A section of numbers; its number. A value the type cannot hold raises OverflowError."""
        if code not in _NUMBER_CODES:
            raise ValueError(f"not a number type code: {code!r}")
        packed = array.array(code, values)
        if _BIG_ENDIAN:
            packed.byteswap()
        return self._add(code, packed.tobytes(), len(packed))

    def strings(self, values: Sequence[str]) -> int:
        """A section of strings; its number. A string holding NUL (which separates them) or a
        lone surrogate (which UTF-8 cannot hold) raises ValueError."""
        text = "\0".join(values)
        if text.count("\0") != max(len(values) - 1, 0):
            raise ValueError("a string holds NUL")
        return self._add(STRINGS, text.encode("utf-8"), len(values))

    def keys(self, values: Sequence[str]) -> list[int]:
        """Distinct strings to look up by value (see `Keys`): three sections, the strings, where
        each ends in bytes, and the hash table of their CRC-32s, at most half full."""
        encoded = [value.encode("utf-8") for value in values]
        if len(set(encoded)) != len(encoded):
            raise ValueError("keys must be distinct")
        size = 2 * len(encoded) + 1
        slots = [-1] * size
        for i, key in enumerate(encoded):
            slot = zlib.crc32(key) % size
            while slots[slot] >= 0:
                slot = (slot + 1) % size
            slots[slot] = i
        # Each key ends where the next one's NUL is.
        ends = list(itertools.accumulate(len(key) + 1 for key in encoded))
        return [self.strings(values), self.numbers("i", [end - 1 for end in ends]), self.numbers("i", slots)]

    def _add(self, code: str, data: bytes, count: int) -> int:
        self._table.append((code, self._size, len(data), count))
        self._chunks.append(data)
        self._size += len(data)
        return len(self._table) - 1

    @property
    def table(self) -> list[Entry]:
        return list(self._table)

    def blob(self) -> bytes:
        return b"".join(self._chunks)

    def sections(self) -> Sections:
        """What was packed, read back as from a file (for tests and in-memory round trips)."""
        return Sections(self.table, self.blob())


class Sections:
    """The sections of one blob, by the table a Packer made. A table of another shape, or one
    whose sections do not fit the blob, raises TypeError or ValueError."""

    def __init__(self, table: object, blob: bytes | memoryview) -> None:
        view = memoryview(blob)
        if not isinstance(table, list | tuple):
            raise TypeError("the section table must be a list")
        entries: list[Entry] = []
        for entry in table:
            code, start, size, count = entry
            if not (isinstance(code, str) and all(type(n) is int and n >= 0 for n in (start, size, count))):
                raise TypeError("not a section")
            if code == STRINGS:
                if count == 0 and size:
                    raise ValueError("bytes in an empty section of strings")
            elif code not in _NUMBER_CODES or size != count * array.array(code).itemsize:
                raise ValueError("not a section of numbers")
            if start + size > len(view):
                raise ValueError("a section past the end of the blob")
            entries.append((code, start, size, count))
        self._table = entries
        self._view = view

    def numbers(self, ref: object, codes: str) -> Sequence[Any]:
        """The numbers of section `ref`, whose type code must be one of `codes`."""
        code, start, size, _ = self._entry(ref)
        if code == STRINGS or code not in codes:
            raise ValueError(f"section {ref} holds {code!r}, not {codes!r}")
        view = self._view[start : start + size]
        if _BIG_ENDIAN:
            swapped = array.array(code, view.tobytes())
            swapped.byteswap()
            return swapped
        return view.cast(code)

    def count(self, ref: object, code: str) -> int:
        """How many items section `ref`, of type `code`, holds (strings are not decoded)."""
        kind, _, _, count = self._entry(ref)
        if kind != code:
            raise ValueError(f"section {ref} holds {kind!r}, not {code!r}")
        return count

    def strings(self, ref: object) -> list[str]:
        """The strings of section `ref`."""
        code, start, size, count = self._entry(ref)
        if code != STRINGS:
            raise ValueError(f"section {ref} holds numbers, not strings")
        if not count:
            return []
        values = str(self._view[start : start + size], "utf-8").split("\0")
        if len(values) != count:
            raise ValueError(f"section {ref} holds {len(values)} strings, not {count}")
        return values

    def keys(self, refs: object) -> Keys:
        """The keys `Packer.keys` wrote, each read only when a lookup lands on it."""
        strings, ends, slots = refs  # type: ignore[misc]
        code, start, size, count = self._entry(strings)
        ends, slots = self.numbers(ends, "i"), self.numbers(slots, "i")
        if code != STRINGS or len(ends) != count or (count and ends[-1] != size):
            raise ValueError("not the data of keys")
        if len(slots) <= 2 * count:
            raise ValueError("not the hash table of keys")
        return Keys(self._view[start : start + size], ends, slots, lambda: self.strings(strings))

    def _entry(self, ref: object) -> Entry:
        if type(ref) is not int:
            raise TypeError("a section is named by its number")
        if not 0 <= ref < len(self._table):
            raise ValueError(f"no section {ref}")
        return self._table[ref]


class Keys:
    """Strings by position, found by value through the hash table `Packer.keys` wrote.

    What a lookup found is remembered (up to MEMO_SIZE strings, found or not): a long-running
    bot meets the same words again. The strings themselves are decoded only if someone walks
    them all (`__iter__`).
    """

    MEMO_SIZE = 65_536

    def __init__(
        self, data: memoryview, ends: Sequence[int], slots: Sequence[int], strings: Callable[[], list[str]]
    ) -> None:
        self._data = data
        self._ends = ends
        self._slots = slots
        self._strings = strings
        self._decoded: list[str] | None = None
        self._found: dict[str, int] = {}

    def index(self, key: str) -> int:
        """The position of `key`, or -1."""
        found = self._found.get(key)
        if found is None:
            found = self._probe(key)
            if len(self._found) >= self.MEMO_SIZE:
                self._found.clear()
            self._found[key] = found
        return found

    def _probe(self, key: str) -> int:
        # surrogatepass: a lone surrogate, which no key holds, finds nothing rather than raising.
        wanted = key.encode("utf-8", "surrogatepass")
        data, ends, slots = self._data, self._ends, self._slots
        size = len(slots)
        slot = zlib.crc32(wanted) % size
        for _ in range(size):  # a table with no free slot (never written) ends too
            i = slots[slot]
            if not 0 <= i < len(ends):
                return -1
            if data[ends[i - 1] + 1 if i else 0 : ends[i]] == wanted:
                return i
            slot = (slot + 1) % size
        return -1

    def __iter__(self) -> Iterator[str]:
        if self._decoded is None:
            self._decoded = self._strings()
        return iter(self._decoded)

    def __len__(self) -> int:
        return len(self._ends)
