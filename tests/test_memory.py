import platform
import sys

import pytest

from geouic._memory import _malloc_trim, release_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is glibc's")
def test_release_trims_on_glibc():
    assert _malloc_trim() is not None
    assert release_freed_memory() is True
    assert release_freed_memory(collect=True) is True


def test_release_is_a_no_op_without_malloc_trim(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    _malloc_trim.cache_clear()
    try:
        assert release_freed_memory() is False
    finally:
        monkeypatch.undo()
        _malloc_trim.cache_clear()
