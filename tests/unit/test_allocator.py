"""The operator asks glibc for two malloc arenas, unless MALLOC_ARENA_MAX says otherwise: checked
in a child process, where glibc's own statistics show how many arenas threads that allocate at the
same time were given."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from azureml_operator import allocator

CHILD = textwrap.dedent(
    """
    import ctypes, os, sys, threading
    from azureml_operator import allocator
    applied = allocator.limit_arenas()
    start = threading.Barrier(8)
    def churn():
        start.wait()
        for _ in range(2000):
            [bytearray(300_000) for _ in range(2)]  # above pymalloc's sizes: glibc's malloc serves them
    threads = [threading.Thread(target=churn) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    # malloc_info's XML lists one <heap nr=...> per arena.
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    path = sys.argv[1].encode()
    f = libc.fopen(path, b"w"); libc.malloc_info(0, f); libc.fclose(f)
    print(applied, open(sys.argv[1]).read().count("<heap nr="))
    """
)


def arenas(tmp_path: Path, env: dict[str, str]) -> tuple[bool, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "malloc.xml")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_threads_share_two_arenas_unless_the_environment_says_otherwise(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert arenas(tmp_path, env) == (True, allocator.ARENAS)
    applied, count = arenas(tmp_path, {**env, "MALLOC_ARENA_MAX": "1"})
    assert not applied and count == 1
