from __future__ import annotations

import array
from types import ModuleType

import pytest

# Published FNV-1a 32-bit test vectors.
VECTORS = [
    (b"", 0x811C9DC5),
    (b"a", 0xE40C292C),
    (b"foobar", 0xBF9CF968),
]


@pytest.mark.parametrize(("data", "expected"), VECTORS)
def test_known_vectors(impl: ModuleType, data: bytes, expected: int) -> None:
    assert impl.checksum32(data) == expected


def test_bytes_like_inputs_agree(impl: ModuleType) -> None:
    data = bytes(range(256)) * 3
    expected = impl.checksum32(data)
    assert impl.checksum32(bytearray(data)) == expected
    assert impl.checksum32(memoryview(data)) == expected
    assert impl.checksum32(array.array("B", data)) == expected
    assert impl.checksum32(array.array("I", data[:64])) == impl.checksum32(data[:64])


def test_rejects_str(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        impl.checksum32("text")
