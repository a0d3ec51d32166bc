"""Where the default UIC fit's memory goes, and peak RSS of ``geouic classify`` against ``--mem-limit``.

Two measurements (issue 8, requirement 5: "memory for training bounded by ``--mem-limit``"):

``stages``
    One process fits the default UIC engine on a scene and predicts it, with a sampler thread
    reading the resident set (``/proc/self/statm``) every 2 ms. Each stage of the fit (the pixel
    sample, the first stage, reading the pool, the smoothed features, the mixture, its posterior
    and the Potts field, the members' training, class ordering) and the prediction pass are
    wrapped, and the table gives each stage's peak RSS above the *baseline*: the process after
    importing numpy, rasterio, scikit-learn and torch and opening the scene, before the fit.
    Wrapping replaces module attributes only for the duration of the run; the engine is the
    library's own.
``identical``
    The default map of each scene (seed 0) with this tree and with an earlier commit, compared
    byte for byte.
``rss``
    ``geouic classify`` with the default engine at each ``--mem-limit`` and ``--method kmeans``
    beside it, each as its own process under ``/usr/bin/time -v`` (``Maximum resident set size``),
    and whether the default map is byte-identical across limits.
``predict``
    ``geouic predict`` of one saved UIC model (trained once on the synthetic scene) over the same
    pixels in three file layouts: 256 x 256 tiles, 512 x 512 tiles and one-row DEFLATE strips
    across a 6400-pixel width (the synthetic scene's top half, mirrored four times), each with
    this tree and with ``--base`` alternately (``--repeats``), CPU, wall and peak RSS under
    ``/usr/bin/time -v``, and whether the maps are byte-identical.

Scenes: a name of ``../shared/data`` (``landsat8_brazil``, ``rsgislib_aber_s2``, ...), ``synthetic``
(a 1600 x 1600 6-band uint16 scene written once to ``benchmarks/_work/uicmem_synth_1600.tif`` by
``benchmarks/make_big_scene.py``'s built-in generator), or a path. Run from the repository root::

    nice -n 10 python -m benchmarks.uic_memory stages --scene landsat8_brazil --classes 4
    nice -n 10 python -m benchmarks.uic_memory stages --scene synthetic --classes 8 --mem-limit 64
    nice -n 10 python -m benchmarks.uic_memory rss --scene landsat8_brazil --classes 4 --limits 64,256,1024
    nice -n 10 python -m benchmarks.uic_memory identical --base 5742189 --scenes salinas_a:6,landsat5_amazon:4
    nice -n 10 python -m benchmarks.uic_memory predict --base 11114ad --repeats 2
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks import _bench

WORK = _bench.ROOT / "benchmarks" / "_work"
SYNTH = WORK / "uicmem_synth_1600.tif"
_PAGE = os.sysconf("SC_PAGE_SIZE")


def scene_path(name: str) -> Path:
    """A shared scene's image, the synthetic scene (written on first use), or a path."""
    if name == "synthetic":
        if not SYNTH.exists():
            WORK.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, str(_bench.ROOT / "benchmarks" / "make_big_scene.py"), "--size", "1600",
                            "--out", str(SYNTH)], check=True)
        return SYNTH
    folder = _bench.DATA / name
    if folder.is_dir():
        tifs = sorted(p for p in folder.glob("*.tif") if "reference" not in p.name and "polygons" not in p.name)
        return tifs[0]
    return Path(name)


def rss_mb() -> float:
    """Current resident set of this process in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


class Sampler:
    """A thread that tracks the peak RSS of every open stage (stages may nest)."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.open: dict[str, float] = {}
        self.rows: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.wait(self.interval):
            now = rss_mb()
            with self.lock:
                for name in self.open:
                    self.open[name] = max(self.open[name], now)

    @contextlib.contextmanager
    def stage(self, name: str, depth: int) -> Iterator[None]:
        start = rss_mb()
        t0 = time.perf_counter()
        with self.lock:
            while name in self.open:
                name += "'"
            self.open[name] = start
        try:
            yield
        finally:
            end = rss_mb()
            with self.lock:
                peak = max(self.open.pop(name), end)
            self.rows.append({"stage": name, "depth": depth, "t_start": t0, "start_mb": start, "peak_mb": peak,
                              "end_mb": end, "seconds": time.perf_counter() - t0})


def _wrap(sampler: Sampler, owner: Any, attr: str, name: str, depth: int) -> Callable[[], None]:
    """Replace ``owner.attr`` by a version that runs inside a sampler stage; return the undo."""
    descriptor = owner.__dict__.get(attr) if isinstance(owner, type) else None
    original = getattr(owner, attr)
    raw = descriptor.__func__ if isinstance(descriptor, (classmethod, staticmethod)) else original

    @functools.wraps(raw)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with sampler.stage(name, depth):
            return raw(*args, **kwargs)

    if isinstance(descriptor, classmethod):
        setattr(owner, attr, classmethod(wrapped))
    elif isinstance(descriptor, staticmethod):
        setattr(owner, attr, staticmethod(wrapped))
    else:
        setattr(owner, attr, wrapped)
    return lambda: setattr(owner, attr, descriptor if descriptor is not None else original)


def stages(args: argparse.Namespace) -> dict[str, Any]:
    """Fit and predict the default UIC engine in this process, stage by stage."""
    import numpy as np  # noqa: F401  (part of the baseline)
    import sklearn.mixture  # noqa: F401
    import torch  # noqa: F401

    import geouic.uic.data as data
    import geouic.uic.engine as engine_mod
    import geouic.uic.labels as labels
    import geouic.uic.train as train
    from geouic import pipeline
    from geouic.raster import open_raster

    path = scene_path(args.scene)
    sampler = Sampler()
    undo = []
    targets = [
        (engine_mod, "sample_pixels", "sample pixels (normalisation / PCA)", 1),
        (data.Projection, "fit", "first stage (normalise, PCA)", 1),
        (data.PatchPool, "from_sources", "read the pool", 1),
        (engine_mod, "initial_labels", "starting labels", 1),
        (data.PatchPool, "smoothed_features", "smoothed features (3x3 median)", 2),
        (labels, "fit_mixture", "mixture fit (subsample)", 2),
        (labels, "potts_smooth", "Potts field, one region", 3),
        (engine_mod.UICEngine, "_train_members", "members' training", 1),
        (train, "predict_pool", "pool forward pass", 3),
        (engine_mod.UICEngine, "_order_classes", "class order", 1),
    ]
    sklearn_gmm = sklearn.mixture.GaussianMixture
    targets.append((sklearn_gmm, "predict_proba", "mixture posterior", 2))
    for owner, attr, name, depth in targets:
        if hasattr(owner, attr):
            undo.append(_wrap(sampler, owner, attr, name, depth))
    src = open_raster(str(path))
    import gc

    gc.collect()
    floor = {"before_mb": rss_mb()}
    if args.warm_torch:
        _warm_torch(src.count if src.count <= 16 else 16)
        gc.collect()
        floor["after_mb"] = rss_mb()
    baseline = rss_mb()
    sampler.thread.start()
    out = WORK / "uicmem_stages.tif"
    WORK.mkdir(parents=True, exist_ok=True)
    eng = engine_mod.UICEngine(args.classes, seed=0, **json.loads(args.params))
    fit_kwargs: dict[str, Any] = {}
    if args.mem_limit is not None and _accepts_mem_limit(eng):
        fit_kwargs["mem_limit_mb"] = args.mem_limit
    try:
        with sampler.stage("fit (whole)", 0):
            eng.fit([src], **fit_kwargs)
        with sampler.stage("predict + write (whole)", 0):
            pipeline.apply_engine(src, eng, out, overwrite=True,
                                  mem_limit_mb=args.mem_limit if args.mem_limit is not None else 64)
    finally:
        sampler.done.set()
        for u in undo:
            u()
    digest = _labels_sha256(out)
    return {"scene": args.scene, "path": str(path), "pixels": src.width * src.height, "bands": src.count,
            "torch_floor": floor,
            "classes": args.classes, "mem_limit_mb": args.mem_limit, "baseline_mb": baseline,
            "labels_sha256": digest, "rows": sampler.rows}


def _warm_torch(channels: int, members: int = 2) -> None:
    """torch's fixed floor: what a first training step and a 256 x 256 forward tile cost per member.

    Two threads (the default members at once) each build the default network, take three Adam
    steps on a default batch and run one forward pass over a 300 x 300 input in 256-pixel tiles.
    """
    import torch

    from geouic.uic.model import DEFAULT_ARCH, build_net, forward_tiled

    def one() -> None:
        torch.set_num_threads(1)
        net = build_net(channels, 8, DEFAULT_ARCH)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.randn(16, channels, 40, 40)
        for _ in range(3):
            loss = net(x).logsumexp(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            forward_tiled(lambda t: net(t).argmax(1, keepdim=True), torch.randn(channels, 300, 300), net.radius)

    threads = [threading.Thread(target=one) for _ in range(members)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _accepts_mem_limit(engine: Any) -> bool:
    import inspect

    return "mem_limit_mb" in inspect.signature(engine.fit).parameters


def render_stages(res: dict[str, Any]) -> str:
    """The stage table as Markdown: per stage (repeats merged) its highest peak above the baseline."""
    base = res["baseline_mb"]
    merged: dict[str, dict[str, Any]] = {}
    for r in sorted(res["rows"], key=lambda r: r["t_start"]):
        key = r["stage"].rstrip("'")
        m = merged.setdefault(key, {"depth": r["depth"], "n": 0, "peak": 0.0, "start": r["start_mb"],
                                    "end": 0.0, "seconds": 0.0})
        m["n"] += 1
        m["peak"] = max(m["peak"], r["peak_mb"])
        m["end"] = r["end_mb"]
        m["seconds"] += r["seconds"]
    floor = res.get("torch_floor", {})
    lines = [f"{res['scene']} ({res['pixels'] / 1e6:.2f} Mpx, {res['bands']} bands, K={res['classes']}, "
             f"mem_limit {res['mem_limit_mb']}): baseline {base:.0f} MB (torch, numpy, sklearn, rasterio imported, "
             f"scene open{', then torch warmed' if 'after_mb' in floor else ''}); labels sha256 "
             f"{res['labels_sha256']}"
             + (f"; torch's floor (first training step and a forward tile in two threads): "
                f"{floor['after_mb'] - floor['before_mb']:.0f} MB" if "after_mb" in floor else ""),
             "", "| stage | calls | held before MB | peak MB | held after MB | seconds |", "|---|---|---|---|---|---|"]
    for key, m in merged.items():
        lines.append(f"| {'. ' * m['depth']}{key} | {m['n']} | {m['start'] - base:.0f} | {m['peak'] - base:.0f} | "
                     f"{m['end'] - base:.0f} | {m['seconds']:.1f} |")
    lines.append("")
    lines.append("(MB above the baseline; a stage's peak includes what was held when it started.)")
    return "\n".join(lines)


def _time_v(cmd: list[str], timeout: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", proc.stderr)
    sys_t = re.search(r"System time \(seconds\): ([\d.]+)", proc.stderr)
    return {"returncode": proc.returncode, "wall_s": wall, "max_rss_mb": int(m.group(1)) / 1024 if m else None,
            "cpu_s": (float(user.group(1)) + float(sys_t.group(1))) if user and sys_t else None,
            "error": proc.stderr.strip().splitlines()[-1][:200] if proc.returncode else ""}


def rss(args: argparse.Namespace) -> dict[str, Any]:
    """``geouic classify`` at each limit (default engine) and k-means, under ``/usr/bin/time -v``."""

    path = scene_path(args.scene)
    exe = Path(sys.executable).parent / "geouic"
    WORK.mkdir(parents=True, exist_ok=True)
    runs = []
    variants = [(f"default --mem-limit {lim:g}", ["--mem-limit", f"{lim:g}"]) for lim in args.limits]
    variants.append(("kmeans --mem-limit 64", ["--method", "kmeans", "--mem-limit", "64"]))
    for name, extra in variants:
        out = WORK / f"uicmem_rss_{len(runs)}.tif"
        cmd = [str(exe), "classify", str(path), "--classes", str(args.classes), "--seed", "0", "-o", str(out),
               "--overwrite", "-q", *extra]
        res = _time_v(cmd, args.timeout)
        res["variant"] = name
        res["command"] = "/usr/bin/time -v " + shlex.join(["geouic", *cmd[1:]])
        if not res["returncode"]:
            res["labels_sha256"] = _labels_sha256(out)
        out.unlink(missing_ok=True)
        print(f"  {name}: peak RSS {res['max_rss_mb']} MB, wall {res['wall_s']:.1f} s, CPU {res['cpu_s']} s, "
              f"labels {res.get('labels_sha256')} {res['error']}", flush=True)
        runs.append(res)
    return {"scene": args.scene, "path": str(path), "classes": args.classes, "runs": runs,
            "load1": os.getloadavg()[0]}


def render_rss(res: dict[str, Any]) -> str:
    """The RSS table as Markdown."""
    lines = [f"{res['scene']} (K={res['classes']})", "",
             "| run | peak RSS MB | wall s | CPU s | labels sha256 (first 16) |", "|---|---|---|---|---|"]
    for r in res["runs"]:
        rss_v = f"{r['max_rss_mb']:.0f}" if r["max_rss_mb"] else "-"
        lines.append(f"| {r['variant']} | {rss_v} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r.get('labels_sha256', r['error'])} |")
    return "\n".join(lines)


_BASE_RUNNER = """import sys
sys.meta_path = [f for f in sys.meta_path if "_EditableFinder" not in repr(f)]
sys.path.insert(0, sys.argv.pop(1))
from geouic.cli import main
main()
"""


def _export_base(base: str, tmp: str) -> Path:
    """Export ``base``'s ``geouic/`` into ``tmp``; return the script that runs its CLI from there."""
    archive = subprocess.run(["git", "archive", base, "geouic"], cwd=_bench.ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
    runner = Path(tmp) / "run_geouic.py"
    runner.write_text(_BASE_RUNNER)
    return runner


def _labels_sha256(path: Path) -> str:
    """The first 16 hex digits of the SHA-256 of a map's first band."""
    import numpy as np
    import rasterio

    with rasterio.open(path) as ds:
        return hashlib.sha256(np.ascontiguousarray(ds.read(1)).tobytes()).hexdigest()[:16]


def identical(args: argparse.Namespace) -> dict[str, Any]:
    """The default map of each scene with this tree and with ``--base`` (a commit), side by side.

    The base commit's ``geouic/`` is exported with ``git archive`` to a temporary folder and run
    with the same interpreter (its editable install bypassed), so both maps come from the same
    environment and differ only by the code.
    """
    import tempfile


    rows = []
    with tempfile.TemporaryDirectory(prefix="uicmem-base-") as tmp:
        runner = _export_base(args.base, tmp)
        for spec in args.scenes.split(","):
            name, k = spec.split(":")
            path = scene_path(name)
            digests = {}
            for which, prefix in (("base", [sys.executable, str(runner), tmp]),
                                  ("this", [str(Path(sys.executable).parent / "geouic")])):
                out = Path(tmp) / f"{name}_{which}.tif"
                cmd = [*prefix, "classify", str(path), "--classes", k, "--seed", "0", "-o", str(out), "--overwrite",
                       "-q", *(["--mem-limit", f"{args.mem_limit:g}"] if args.mem_limit else [])]
                res = _time_v(cmd, args.timeout)
                digests[which] = _labels_sha256(out)
                res.update(scene=name, k=int(k), code=which, labels_sha256=digests[which])
                print(f"  {name} K={k} {which}: {digests[which]} peak RSS {res['max_rss_mb']:.0f} MB, "
                      f"wall {res['wall_s']:.1f} s", flush=True)
                rows.append(res)
            rows[-1]["identical"] = digests["base"] == digests["this"]
    return {"base": args.base, "mem_limit_mb": args.mem_limit, "rows": rows}


def _layouts() -> dict[str, Path]:
    """The synthetic scene in three layouts (written once under ``benchmarks/_work``)."""
    import numpy as np
    import rasterio

    src_path = scene_path("synthetic")
    out = {"tiled256": src_path, "tiled512": WORK / "uicmem_synth_1600_t512.tif",
           "strips6400": WORK / "uicmem_synth_strips6400.tif"}
    with rasterio.open(src_path) as src:
        prof = src.profile
        if not out["tiled512"].exists():
            with rasterio.open(out["tiled512"], "w", **{**prof, "tiled": True, "blockxsize": 512,
                                                       "blockysize": 512, "compress": "deflate"}) as dst:
                dst.write(src.read())
        if not out["strips6400"].exists():
            top = src.read(window=((0, src.height // 2), (0, src.width)))
            wide = np.concatenate([top, top[:, :, ::-1], top, top[:, :, ::-1]], axis=2)
            strip = {k: v for k, v in prof.items() if k not in ("blockxsize", "blockysize", "tiled")}
            strip.update(width=wide.shape[2], height=wide.shape[1], tiled=False, blockysize=1, compress="deflate")
            with rasterio.open(out["strips6400"], "w", **strip) as dst:
                dst.write(wide)
    return out


def predict(args: argparse.Namespace) -> dict[str, Any]:
    """``geouic predict`` of one model over three layouts, this tree and ``--base`` alternately."""
    import tempfile


    layouts = _layouts()
    model = WORK / f"uicmem_synth_k{args.classes}.geouic"
    this = str(Path(sys.executable).parent / "geouic")
    if not model.exists():
        subprocess.run([this, "train", str(layouts["tiled256"]), "--classes", str(args.classes), "--seed", "0",
                        "-o", str(model), "-q"], check=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="uicmem-base-") as tmp:
        runner = _export_base(args.base, tmp)
        for name, path in layouts.items():
            digests: dict[str, set[str]] = {"base": set(), "this": set()}
            for rep in range(args.repeats):
                for which, prefix in (("base", [sys.executable, str(runner), tmp]), ("this", [this])):
                    out = Path(tmp) / f"{name}_{which}.tif"
                    cmd = [*prefix, "predict", str(model), str(path), "-o", str(out), "--overwrite", "-q",
                           *(["--mem-limit", f"{args.mem_limit:g}"] if args.mem_limit else [])]
                    res = _time_v(cmd, args.timeout)
                    digest = _labels_sha256(out)
                    digests[which].add(digest)
                    res.update(layout=name, code=which, repeat=rep, labels_sha256=digest)
                    print(f"  {name} {which} #{rep}: CPU {res['cpu_s']:.1f} s, wall {res['wall_s']:.1f} s, "
                          f"peak RSS {res['max_rss_mb']:.0f} MB", flush=True)
                    rows.append(res)
            rows[-1]["identical"] = len(digests["base"] | digests["this"]) == 1
    return {"base": args.base, "mem_limit_mb": args.mem_limit, "classes": args.classes, "rows": rows,
            "load": os.getloadavg()}


def render_predict(res: dict[str, Any]) -> str:
    """The comparison as Markdown (each cell: the runs, in order)."""
    lines = [f"base {res['base']} vs this tree, K = {res['classes']}, --mem-limit {res['mem_limit_mb'] or 64}", "",
             "| layout | base CPU s | this CPU s | base peak RSS MB | this peak RSS MB | identical |",
             "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["layout"] for r in res["rows"]):
        rs = [r for r in res["rows"] if r["layout"] == name]

        def cells(which: str, key: str, rs: list[dict[str, Any]] = rs) -> str:
            return " / ".join(f"{r[key]:.1f}" if key == "cpu_s" else f"{r[key]:.0f}" for r in rs if r["code"] == which)

        lines.append(f"| {name} | {cells('base', 'cpu_s')} | {cells('this', 'cpu_s')} | "
                     f"{cells('base', 'max_rss_mb')} | {cells('this', 'max_rss_mb')} | {rs[-1].get('identical')} |")
    return "\n".join(lines)


def render_identical(res: dict[str, Any]) -> str:
    """The comparison as Markdown."""
    lines = [f"Default map, seed 0, this tree against {res['base']} (--mem-limit {res['mem_limit_mb'] or 64:g})", "",
             "| scene | K | code | labels sha256 (first 16) | identical | peak RSS MB | wall s |",
             "|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        same = {True: "yes", False: "NO"}.get(r.get("identical"), "")
        lines.append(f"| {r['scene']} | {r['k']} | {r['code']} | {r['labels_sha256']} | {same} | "
                     f"{r['max_rss_mb']:.0f} | {r['wall_s']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("stages", "rss", "identical", "predict"))
    parser.add_argument("--base", default="HEAD", help="identical: the commit to compare with")
    parser.add_argument("--scenes", default="salinas_a:6,landsat5_amazon:4",
                        help="identical: comma-separated NAME:K")
    parser.add_argument("--scene", default="landsat8_brazil")
    parser.add_argument("--classes", type=int, default=4, help="stages, rss: K; predict: K of the model (8 there)")
    parser.add_argument("--mem-limit", type=float, default=None, help="stages: the fit's budget (MB)")
    parser.add_argument("--limits", default="64,256,1024", help="rss: comma-separated --mem-limit values")
    parser.add_argument("--params", default="{}", help="stages: more UIC parameters as JSON")
    parser.add_argument("--warm-torch", action="store_true",
                        help="stages: measure torch's fixed floor first; stages are then above it")
    parser.add_argument("--repeats", type=int, default=2, help="predict: runs of each code per layout")
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--json", default=None, help="also write the raw result here")
    parser.add_argument("--render", default=None, help="print the table of a result written by --json")
    args = parser.parse_args(argv)
    args.limits = [float(v) for v in str(args.limits).split(",")]
    if args.render:
        res = json.loads(Path(args.render).read_text())
    else:
        res = {"stages": stages, "rss": rss, "identical": identical, "predict": predict}[args.what](args)
    print({"stages": render_stages, "rss": render_rss, "identical": render_identical,
           "predict": render_predict}[args.what](res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
