"""Raw sections of numbers and strings: what the on-disk index is mostly made of."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bot.packing import Packer, Sections, index_code


def test_numbers_and_strings_come_back_as_they_went_in() -> None:
    pack = Packer()
    floats = [0.0, -0.0, 1.5, math.pi, 1e-300, -2.5e300, math.inf]
    refs = {
        "d": pack.numbers("d", floats),
        "B": pack.numbers("B", [0, 7, 255]),
        "H": pack.numbers("H", [0, 65535]),
        "i": pack.numbers("i", [-(2**31), 0, 2**31 - 1]),
        "q": pack.numbers("q", [2**40]),
        "strings": pack.strings(["w:schedule", "", "c: ec", "スケジュール", "two\nlines"]),
        "none": pack.strings([]),
        "empty": pack.strings([""]),
    }
    sections = pack.sections()
    assert [math.copysign(1, x) for x in sections.numbers(refs["d"], "d")] == [math.copysign(1, x) for x in floats]
    assert list(sections.numbers(refs["d"], "d")) == floats
    assert list(sections.numbers(refs["B"], "BHi")) == [0, 7, 255]
    assert list(sections.numbers(refs["H"], "BHi")) == [0, 65535]
    assert list(sections.numbers(refs["i"], "i")) == [-(2**31), 0, 2**31 - 1]
    assert list(sections.numbers(refs["q"], "q")) == [2**40]
    assert sections.strings(refs["strings"]) == ["w:schedule", "", "c: ec", "スケジュール", "two\nlines"]
    assert sections.strings(refs["none"]) == []
    assert sections.strings(refs["empty"]) == [""]


def test_the_blob_is_little_endian_and_the_table_says_where_each_section_is() -> None:
    pack = Packer()
    pack.numbers("i", [1, 256])
    pack.strings(["ab", "c"])
    pack.numbers("d", [1.0])
    assert pack.blob() == b"\x01\x00\x00\x00\x00\x01\x00\x00" + b"ab\x00c" + b"\x00\x00\x00\x00\x00\x00\xf0\x3f"
    assert pack.table == [("i", 0, 8, 2), ("s", 8, 4, 2), ("d", 12, 8, 1)]


def test_index_codes_are_the_smallest_that_hold_the_indexes() -> None:
    assert [index_code(n) for n in (0, 255, 256, 65535, 65536)] == ["B", "B", "H", "H", "i"]


def test_what_a_section_cannot_hold_is_refused_when_packing() -> None:
    pack = Packer()
    with pytest.raises(ValueError, match="NUL"):
        pack.strings(["a\0b"])
    with pytest.raises(ValueError):
        pack.strings(["\ud800"])  # a lone surrogate: not UTF-8
    with pytest.raises(OverflowError):
        pack.numbers("B", [256])
    with pytest.raises(ValueError):
        pack.numbers("f", [1.0])  # not one of the codes sections hold


def sections_of(table: Any, blob: bytes = b"\0" * 16) -> Sections:
    return Sections(table, blob)


@pytest.mark.parametrize(
    "table",
    [
        {"s": 1},  # not a list
        [["d", 0, 8]],  # an entry of three
        [["d", 0, 8, 1.0]],  # a count that is not a whole number
        [["d", True, 8, 1]],  # a bool is no offset
        [["d", -8, 8, 1]],  # before the blob
        [["d", 12, 8, 1]],  # past its end
        [["d", 0, 12, 1]],  # not whole float64s
        [["d", 0, 8, 2]],  # a count that does not match the size
        [["f", 0, 8, 2]],  # a type code sections do not hold
        [["s", 0, 4, 0]],  # bytes in an empty run of strings
    ],
)
def test_a_table_of_another_shape_is_refused(table: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        sections_of(table)


def test_a_section_is_read_only_as_what_it_holds() -> None:
    sections = sections_of([["d", 0, 8, 1], ["s", 8, 3, 2], ["s", 11, 3, 3]], b"\0" * 8 + b"a\0b" + b"abc" + b"\0\0")
    assert list(sections.numbers(0, "d")) == [0.0]
    assert sections.strings(1) == ["a", "b"]
    for ref in (-1, 3, "0", 0.0, None):
        with pytest.raises((TypeError, ValueError)):
            sections.numbers(ref, "d")
    with pytest.raises(ValueError):
        sections.numbers(0, "i")  # float64s, not int32s
    with pytest.raises(ValueError):
        sections.strings(0)  # numbers, not strings
    with pytest.raises(ValueError):
        sections.numbers(1, "BHi")  # strings, not numbers
    with pytest.raises(ValueError):
        sections.strings(2)  # one string where the table says three


def test_strings_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(UnicodeDecodeError):
        sections_of([["s", 0, 2, 1]], b"\xff\xfe").strings(0)


def test_keys_are_found_by_value_and_walked_in_order() -> None:
    words = ["w:schedule", "c: ec", "スケジュール", "", "p:task role", *(f"w:word{n}" for n in range(500))]
    pack = Packer()
    refs = pack.keys(words)
    keys = pack.sections().keys(refs)
    assert [keys.index(w) for w in words] == list(range(len(words)))
    for missing in ["w:schedul", "w:schedulee", "スケジュー", "c:\ud800", " ", "w:word500"]:
        assert keys.index(missing) == -1
    assert keys.index("w:word7") == 12  # remembered, the same
    assert list(keys) == words
    assert len(keys) == len(words)


def test_no_keys_find_nothing() -> None:
    pack = Packer()
    refs = pack.keys([])
    keys = pack.sections().keys(refs)
    assert (keys.index("w:a"), list(keys), len(keys)) == (-1, [], 0)


def test_keys_must_be_distinct() -> None:
    with pytest.raises(ValueError, match="distinct"):
        Packer().keys(["a", "b", "a"])


def test_a_hash_table_of_another_shape_never_hangs_or_raises_a_lookup() -> None:
    pack = Packer()
    strings, ends, _ = pack.keys(["a", "b"])
    full = pack.numbers("i", [0, 1, 0, 1, 0])  # no free slot: a lookup must stop all the same
    wild = pack.numbers("i", [7, -5, 2**30, 7, 9])  # positions no key has
    short = pack.numbers("i", [0, 1, -1])  # not twice as many slots as keys
    sections = pack.sections()
    assert sections.keys([strings, ends, full]).index("zzz") == -1
    assert sections.keys([strings, ends, wild]).index("a") == -1
    with pytest.raises(ValueError):
        sections.keys([strings, ends, short])
    with pytest.raises(ValueError):
        sections.keys([ends, ends, full])  # numbers where the strings go
