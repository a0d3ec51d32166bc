"""Throughput of geouic on a Dask cluster of 1, 2 and 4 local worker processes, and the client's peak RSS.

Two workloads, each run against a real ``dask scheduler`` and N ``dask worker`` processes
(``--nthreads 1 --no-nanny``) started here on 127.0.0.1, with the client (the ``geouic``
command) measured as its own process (wall time and CPU time through ``wait4``, peak RSS and the
workers' peak RSS through GNU time, so each figure is that process's own, children included for a
local batch's ``--jobs``):

* ``batch``: ``geouic batch jobs.yaml --dask ADDRESS`` over ``--scenes`` synthetic scenes of
  ``--scene-size`` pixels (one job per scene: ``predict`` with one k-means model), beside the
  local ``geouic batch jobs.yaml --jobs N``;
* ``big``: ``geouic predict MODEL BIG.tif --dask ADDRESS`` on one scene of ``--big-size`` pixels
  (made with ``benchmarks/make_big_scene.py``), beside the local ``geouic predict --workers 2``;
  each map's pixels are checked identical to the local one (sha256 of the pixels).

On this 2-core machine N = 4 worker processes cannot be faster than N = 2: the figures for 4
measure the cost of oversubscription, not a speed-up.

Usage::

    python -m benchmarks.dask_throughput --part batch --scenes 8 --scene-size 1024
    python -m benchmarks.dask_throughput --part big --big-size 16000 --workers 1,2,4

Results are printed as a Markdown table and written to ``benchmarks/_work/dask/<part>.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks._bench import ROOT, git_state, machine_info, run_measured, write_synthetic_scene

WORK = ROOT / "benchmarks" / "_work" / "dask"
GEOUIC = [str(Path(sys.executable).with_name("geouic"))]
DASK = [sys.executable, "-m", "dask"]


class TcpCluster:
    """A ``dask scheduler`` and ``n`` one-thread ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, n: int, folder: Path, memory_limit: str = "0") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        file = folder / "scheduler.json"
        file.unlink(missing_ok=True)
        self.log = open(folder / "cluster.log", "w")
        self.scheduler = subprocess.Popen([*DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                           "--no-dashboard", "--scheduler-file", str(file)],
                                          stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not (file.exists() and file.stat().st_size):
            if time.monotonic() > deadline:
                raise SystemExit("the scheduler did not start; see " + str(folder / "cluster.log"))
            time.sleep(0.2)
        self.address = json.loads(file.read_text())["address"]
        # Each worker under /usr/bin/time: its peak RSS is its own (a process forked from this
        # Python and exec'd keeps this process's high-water mark in wait4's ru_maxrss).
        self.rss_files = [folder / f"w{i}.rss" for i in range(n)]
        self.workers = [subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(self.rss_files[i]),
                                          *DASK, "worker", self.address, "--nthreads", "1", "--no-nanny",
                                          "--no-dashboard", "--memory-limit", memory_limit,
                                          "--local-directory", str(folder / f"w{i}")],
                                         stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
                        for i in range(n)]
        self._wait_for(n)

    def _wait_for(self, n: int) -> None:
        from dask.distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(n, timeout=180)

    def stop(self) -> list[float]:
        """Stop everything; the workers' peak RSS in MB."""
        for w in self.workers:
            os.killpg(w.pid, signal.SIGINT)  # the worker (GNU time ignores SIGINT while it waits)
        for w in self.workers:
            try:
                w.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()
        peaks = []
        for f in self.rss_files:
            try:
                peaks.append(int(f.read_text().split()[-1]) / 1024)
            except (OSError, ValueError, IndexError):
                pass
        self.scheduler.send_signal(signal.SIGINT)
        try:
            self.scheduler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.scheduler.kill()
        self.log.close()
        return peaks


def pixels_sha256(path: Path) -> str:
    """sha256 of a map's pixels, read strip by strip."""
    import rasterio
    from rasterio.windows import Window

    h = hashlib.sha256()
    with rasterio.open(path) as ds:
        for row in range(0, ds.height, 1024):
            h.update(ds.read(1, window=Window(0, row, ds.width, min(1024, ds.height - row))).tobytes())
    return h.hexdigest()


def run_timed(cmd: list[str]) -> dict[str, Any]:
    """:func:`run_measured` of ``cmd`` under ``/usr/bin/time``, whose figure of peak RSS is the command's own."""
    rss = WORK / "client.rss"
    res = run_measured(["/usr/bin/time", "-f", "%M", "-o", str(rss), *cmd])
    try:
        res["max_rss_mb"] = int(rss.read_text().split()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        res["max_rss_mb"] = float("nan")
    return res


def check(result: dict[str, Any], what: str) -> dict[str, Any]:
    if result["returncode"] != 0:
        raise SystemExit(f"{what} failed ({result['returncode']}):\n{result['stderr_tail']}")
    return result


def model_for(scene: Path, model: Path) -> Path:
    if not model.exists():
        check(run_measured([*GEOUIC, "train", str(scene), "--method", "kmeans", "--classes", "8", "--seed", "0",
                            "--save-model", str(model)]), "train")
    return model


def row(label: str, n: int, res: dict[str, Any], pixels: float, workers_rss: list[float] | None = None,
        identical: bool | None = None) -> dict[str, Any]:
    out = {"run": label, "workers": n, "wall_s": round(res["wall_s"], 2), "client_cpu_s": round(res["cpu_s"], 2),
           "client_peak_rss_mb": round(res["max_rss_mb"], 1), "mpx_per_s": round(pixels / 1e6 / res["wall_s"], 2),
           "load1_before": round(res["load1"], 2)}
    if workers_rss:
        out["worker_peak_rss_mb"] = round(max(workers_rss), 1)
    if identical is not None:
        out["identical_to_local"] = identical
    print(json.dumps(out), flush=True)
    return out


def part_batch(args: argparse.Namespace) -> list[dict[str, Any]]:
    folder = WORK / "batch"
    scenes = folder / "scenes"
    scenes.mkdir(parents=True, exist_ok=True)
    for i in range(args.scenes):
        path = scenes / f"scene_{i:02d}.tif"
        if not path.exists():
            write_synthetic_scene(path, size=args.scene_size, n_classes=6, n_bands=6, seed=i, block=256)
    model_for(scenes / "scene_00.tif", folder / "model.geouic")
    (folder / "jobs.yaml").write_text(textwrap.dedent("""
        jobs:
          - foreach: scenes/scene_*.tif
            name: "{stem}"
            steps:
              - predict: {model: model.geouic, scene: "{path}", output: "out/{stem}_classes.tif"}
    """))
    pixels = args.scenes * args.scene_size ** 2
    rows = []
    for n in args.workers:
        res = check(run_timed([*GEOUIC, "batch", str(folder / "jobs.yaml"), "--jobs", str(n), "--overwrite",
                                  "-q"]), "local batch")
        rows.append(row(f"local --jobs {n}", n, res, pixels))
        cluster = TcpCluster(n, folder / f"cluster{n}")
        try:
            res = check(run_timed([*GEOUIC, "batch", str(folder / "jobs.yaml"), "--dask", cluster.address,
                                      "--overwrite", "-q"]), "dask batch")
        finally:
            peaks = cluster.stop()
        rows.append(row(f"--dask ({n} workers)", n, res, pixels, peaks))
    return rows


def part_big(args: argparse.Namespace) -> list[dict[str, Any]]:
    folder = WORK / "big"
    folder.mkdir(parents=True, exist_ok=True)
    big = args.scene or folder / f"scene_{args.big_size}.tif"
    if not big.exists():
        tile = folder / "tile_2000.tif"
        if not tile.exists():
            check(run_measured([sys.executable, str(ROOT / "benchmarks" / "make_big_scene.py"), "--size", "2000",
                                "--out", str(tile)]), "make the tile")
        t0 = time.perf_counter()
        check(run_measured([sys.executable, str(ROOT / "benchmarks" / "make_big_scene.py"), "--tile", str(tile),
                            "--size", str(args.big_size), "--out", str(big)]), "make the big scene")
        print(f"made {big} in {time.perf_counter() - t0:.0f} s", flush=True)
    model = model_for(big, folder / "model.geouic")
    import rasterio

    with rasterio.open(big) as ds:
        pixels = ds.width * ds.height
    local_map = folder / "local.tif"
    res = check(run_timed([*GEOUIC, "predict", str(model), str(big), "-o", str(local_map), "--workers", "2",
                              "--mem-limit", str(args.mem_limit), "--overwrite", "-q"]), "local predict")
    rows = [row("local --workers 2", 2, res, pixels)]
    reference = pixels_sha256(local_map)
    for n in args.workers:
        cluster = TcpCluster(n, folder / f"cluster{n}")
        out = folder / f"dask{n}.tif"
        try:
            res = check(run_timed([*GEOUIC, "predict", str(model), str(big), "-o", str(out), "--workers", "2",
                                      "--mem-limit", str(args.mem_limit), "--dask", cluster.address,
                                      "--overwrite", "-q"]), "dask predict")
        finally:
            peaks = cluster.stop()
        rows.append(row(f"--dask ({n} workers)", n, res, pixels, peaks, pixels_sha256(out) == reference))
        for leftover in (out, out.with_suffix(".qml"), out.with_name(out.name + ".aux.xml")):
            leftover.unlink(missing_ok=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    keys = ["run", "wall_s", "mpx_per_s", "client_cpu_s", "client_peak_rss_mb", "worker_peak_rss_mb",
            "identical_to_local", "load1_before"]
    keys = [k for k in keys if any(k in r for r in rows)]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["batch", "big"], required=True)
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated")
    parser.add_argument("--scenes", type=int, default=8, help="batch: number of scenes")
    parser.add_argument("--scene-size", type=int, default=1024, help="batch: rows = columns of each scene")
    parser.add_argument("--big-size", type=int, default=4000, help="big: rows = columns of the big scene")
    parser.add_argument("--scene", type=Path, default=None, help="big: an existing scene instead of making one")
    parser.add_argument("--mem-limit", type=float, default=64, help="--mem-limit of predict (MB)")
    args = parser.parse_args(argv)
    args.workers = [int(n) for n in args.workers.split(",")]
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    rows = part_batch(args) if args.part == "batch" else part_big(args)
    WORK.mkdir(parents=True, exist_ok=True)
    record = {"command": " ".join(["python -m benchmarks.dask_throughput", *(argv or sys.argv[1:])]),
              "started": started, "ended": time.strftime("%Y-%m-%d %H:%M:%S"), "load_after": os.getloadavg(),
              "machine": machine_info(), **git_state(), "rows": rows}
    (WORK / f"{args.part}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
