"""Connecting: addresses, DASK_SCHEDULER_ADDRESS, local:N, and the errors of a bad address or no Dask."""

from __future__ import annotations

import builtins

import pytest
from click.testing import CliRunner

from geouic.cli import main
from geouic.distributed import ClusterError, DaskUnavailableError, connect, import_distributed, parse_address


@pytest.mark.parametrize("text, kind, address, n", [
    ("tcp://127.0.0.1:8786", "scheduler", "tcp://127.0.0.1:8786", 0),
    ("10.0.0.5:8786", "scheduler", "tcp://10.0.0.5:8786", 0),
    ("tls://scheduler.example.org:8786/", "scheduler", "tls://scheduler.example.org:8786", 0),
    ("local:3", "local", "local:3", 3),
    ("local", "local", "local", 0),
])
def test_parse_address(text, kind, address, n):
    where = parse_address(text)
    assert (where.kind, where.text, where.n_workers) == (kind, address, n)


@pytest.mark.parametrize("text, fragment", [
    ("foo://x:1", "unknown scheme 'foo'"),
    ("tcp://127.0.0.1", "expected tcp://HOST:PORT"),
    ("tcp://127.0.0.1:99999", "expected tcp://HOST:PORT"),
    ("local:0", "local:N needs 1 to 1024"),
    ("no address at all", "expected tcp://HOST:PORT"),
])
def test_bad_address(text, fragment):
    with pytest.raises(ClusterError, match="address=") as info:
        parse_address(text)
    assert fragment in str(info.value)
    assert info.value.params == ("address",)


def test_env_address(monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:8786")
    assert parse_address("env").text == "tcp://127.0.0.1:8786"
    assert parse_address(None).text == "tcp://127.0.0.1:8786"
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    with pytest.raises(ClusterError, match="DASK_SCHEDULER_ADDRESS, which is not set"):
        parse_address("env")


def test_unreachable_scheduler():
    with pytest.raises(ClusterError, match=r"address=tcp://127.0.0.1:1: cannot reach a Dask scheduler"):
        connect("tcp://127.0.0.1:1", timeout=1)


def test_local_cluster_one_thread_per_process(cluster):
    threads = cluster.client.nthreads()
    assert len(threads) == 2 and set(threads.values()) == {1}
    limits = {w["memory_limit"] for w in cluster.client.scheduler_info()["workers"].values()}
    assert limits == {(64 + 1024) * 2**20}  # mem_limit_mb plus the worker's own allowance


def _no_dask(monkeypatch):
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "dask" or name.startswith(("dask.", "distributed")):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


def test_dask_missing_library(monkeypatch):
    _no_dask(monkeypatch)
    with pytest.raises(DaskUnavailableError, match=r"pip install 'geouic\[dask\]'"):
        import_distributed("local:2")
    with pytest.raises(DaskUnavailableError):
        connect("local:2")


@pytest.mark.parametrize("command", ["predict", "batch"])
def test_dask_missing_cli(monkeypatch, data, tmp_path, command):
    scene, model = data
    _no_dask(monkeypatch)
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("jobs: [{steps: [{info: {path: scene.tif}}]}]\n")
    args = ([command, str(model), str(scene), "-o", str(tmp_path / "out.tif")] if command == "predict"
            else [command, str(jobs)])
    result = CliRunner().invoke(main, [*args, "--dask", "local:2"])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines[-1].startswith("Error: --dask local:2 needs Dask distributed")
    assert "pip install 'geouic[dask]'" in lines[-1]
    assert not (tmp_path / "out.tif").exists()


@pytest.mark.parametrize("address, fragment", [
    ("foo://x:1", "--dask foo://x:1 is not a Dask scheduler (unknown scheme 'foo')"),
    ("tcp://127.0.0.1:1", "--dask tcp://127.0.0.1:1: cannot reach a Dask scheduler there"),
])
def test_bad_address_cli(data, tmp_path, address, fragment):
    import dask

    scene, model = data
    out = tmp_path / "out.tif"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # Dask's own setting (default 30 s)
        result = CliRunner().invoke(main, ["predict", str(model), str(scene), "-o", str(out), "--dask", address])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], result.output
    assert not out.exists()


def test_no_dask_import_until_connect():
    """`import geouic.distributed`, `geouic --help` and `geouic predict --help` do not import Dask."""
    import subprocess
    import sys

    code = ("import sys, geouic.distributed, geouic.distributed.batch\n"
            "from click.testing import CliRunner\nfrom geouic.cli import main\n"
            "for args in (['--help'], ['predict', '--help'], ['batch', '--help']):\n"
            "    assert CliRunner().invoke(main, args).exit_code == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
