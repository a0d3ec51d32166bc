"""Benchmark: ``geouic classify --method kmeans`` against GRASS ``i.cluster`` + ``i.maxlik``.

One run of this script:

1. detects the tools (``grass``, GNU ``/usr/bin/time``); when one is missing and we run as root
   with apt, installs them (``apt-get install -y grass-core time``); otherwise it says how to
   install them and skips the GRASS part;
2. makes the scenes under ``--work`` (git-ignored ``benchmarks/_work`` by default): the
   4000 x 4000 x 6 uint16 scene with ``data_samples/make_sample.py`` (or, when that script is
   absent, the built-in generator of ``make_big_scene.py``), and the 16000 x 16000 x 6 scene as a
   mirror tiling of it (``make_big_scene.py``, written window by window);
3. runs, ``--repeats`` times and alternating their order, geouic and GRASS on the 4000 scene,
   then geouic on the 16000 scene, each as a child process, measuring:

   - wall time (``time.perf_counter`` around the child),
   - CPU time (user + system of the whole process tree, from ``/usr/bin/time -v``),
   - **peak tree RSS**: the largest *sum* of the resident set sizes of every process of the
     tree (the child and all its descendants), polled with psutil every ``--poll`` seconds.
     This is what the machine must hold at once; the sum counts shared library pages once per
     process (an upper bound), and a spike shorter than the polling interval can be missed;
   - **max single-process RSS**: the kernel's high-water mark of the largest single process of
     the tree (``Maximum resident set size`` of ``/usr/bin/time -v``; exact, never misses a
     spike, but does not add up processes that run at the same time);

4. checks that both maps are sensible (V-measure against each other and against the
   generator's truth, on a regular pixel subset), and prints a Markdown report (also written
   with ``--markdown``) and a JSON file of every measurement.

Settings (same K for both, sample sizes matched):

- geouic: ``geouic classify SCENE --method kmeans -k 12 --sample-size 200000 --seed 0``:
  k-means++ and Lloyd on a 200 000-pixel random sample (scikit-learn, ``n_init=4``,
  ``max_iter=300``, ``tol=1e-4``, z-score normalisation), then every pixel labelled by its
  nearest centre; tiled DEFLATE uint8 map with internal overviews.
- GRASS: ``r.in.gdal`` (import), ``g.region``, ``i.group``, ``i.cluster classes=12`` with
  ``sample=R,C`` chosen so the sample has about the same number of cells as geouic's
  (``--grass-sample match``; GRASS's own default of about 10 000 cells with
  ``--grass-sample default``; both by default), ``iterations=30 convergence=98 separation=0
  min_size=17`` (GRASS defaults), then ``i.maxlik`` (Gaussian maximum-likelihood classification
  of every pixel with the cluster signatures: *clustering + ML classification*, more work per
  pixel than geouic's nearest centre) and ``r.out.gdal`` to a tiled DEFLATE Byte GeoTIFF with as
  many overview levels as geouic builds. The GRASS location is created before timing (one per
  run); the timed command is the whole ``grass MAPSET --exec`` session.

Usage::

    python benchmarks/grass_vs_geouic.py                      # 4000 x2, 16000 x1
    python benchmarks/grass_vs_geouic.py --repeats 3 --big-size 0 --markdown /tmp/r.md
    python benchmarks/grass_vs_geouic.py --geouic-variant "tuned::--workers 1 --mem-limit 16"
    python benchmarks/grass_vs_geouic.py --geouic-variant "cache32::GDAL_CACHEMAX=32 --workers 2"

A ``--geouic-variant NAME::ARGS`` adds a geouic configuration; leading ``VAR=value`` words of
ARGS are set in its environment, the rest are ``geouic classify`` options.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

logger = logging.getLogger("grass_vs_geouic")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MAKE_SAMPLE = REPO / "data_samples" / "make_sample.py"
MAKE_BIG = HERE / "make_big_scene.py"
MB = 1024 * 1024


# -- tools ------------------------------------------------------------------------------------
def find_tools(install: bool) -> dict:
    """Find ``grass`` and GNU time; install them with apt when allowed. Says what it did."""
    grass, gtime = shutil.which("grass"), "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    missing = [pkg for pkg, have in (("grass-core", grass), ("time", gtime)) if not have]
    if missing:
        can_apt = shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0
        if install and can_apt:
            logger.info("installing %s with apt-get ...", " ".join(missing))
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            cmd = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", *missing]
            if subprocess.run(cmd, env=env).returncode != 0:
                subprocess.run(["apt-get", "update", "-q"], env=env)
                subprocess.run(cmd, env=env)
            grass = shutil.which("grass")
            gtime = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
        else:
            why = "--no-install was given" if not install else "not root or no apt-get"
            logger.warning("missing %s (%s); install with: sudo apt-get install -y %s",
                           ", ".join(missing), why, " ".join(missing))
    tools = {"grass": grass, "time": gtime, "grass_version": None}
    if grass:
        res = subprocess.run([grass, "--version"], capture_output=True, text=True)
        out = (res.stdout + res.stderr).strip()  # GRASS 8.2 prints its version on stderr
        tools["grass_version"] = out.splitlines()[0] if out else "unknown"
        logger.info("found %s (%s)", grass, tools["grass_version"])
    else:
        logger.warning("GRASS not available: the GRASS part is skipped.")
    logger.info("GNU time: %s", gtime or "absent (CPU time and kernel max RSS not reported)")
    return tools


# -- scenes -----------------------------------------------------------------------------------
def _scene_ok(path: Path, size: int) -> bool:
    if not path.exists():
        return False
    import rasterio

    try:
        with rasterio.open(path) as ds:
            return ds.width == ds.height == size and ds.count == 6 and ds.dtypes[0] == "uint16"
    except Exception:
        return False


def make_scenes(work: Path, size: int, big_size: int) -> tuple[Path, Path | None, Path | None]:
    """The benchmark scene, the big scene (or None) and the truth map (or None)."""
    folder = work / f"scene_{size}"
    scene = folder / "scene.tif"
    if not _scene_ok(scene, size):
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if MAKE_SAMPLE.exists():
            logger.info("generating %s with %s --size %d ...", scene, MAKE_SAMPLE.name, size)
            subprocess.run([sys.executable, str(MAKE_SAMPLE), "--size", str(size), "--out", str(folder)], check=True)
        else:
            logger.info("%s absent: generating %s with the built-in generator ...", MAKE_SAMPLE, scene)
            subprocess.run([sys.executable, str(MAKE_BIG), "--size", str(size), "--out", str(scene)], check=True)
        logger.info("scene ready in %.0f s", time.perf_counter() - t0)
    else:
        logger.info("reusing %s", scene)
    truth = folder / "truth.tif"
    big = None
    if big_size:
        big = work / f"scene_{big_size}.tif"
        if not _scene_ok(big, big_size):
            need = big_size * big_size * 6 * 2 * 1.1 / 1e9
            free = shutil.disk_usage(work).free / 1e9
            if free < need:
                raise SystemExit(f"{work}: {free:.0f} GB free, the {big_size} scene may need up to {need:.1f} GB.")
            logger.info("tiling %s into %s ...", scene, big)
            subprocess.run([sys.executable, str(MAKE_BIG), "--tile", str(scene), "--size", str(big_size),
                            "--out", str(big)], check=True)
        else:
            logger.info("reusing %s", big)
    return scene, big, (truth if truth.exists() else None)


# -- measuring --------------------------------------------------------------------------------
@dataclass
class Run:
    tool: str
    scene: str
    repeat: int
    wall_s: float
    tree_peak_rss_mb: float | None
    max_proc_rss_mb: float | None
    cpu_s: float | None
    n_procs: int
    load_before: float
    load_after: float
    rc: int
    command: str
    steps: dict = field(default_factory=dict)
    note: str = ""


def _parse_gnu_time(path: Path) -> dict:
    text = path.read_text() if path.exists() else ""
    out = {}
    for key, pat in (("maxrss_kb", r"Maximum resident set size \(kbytes\): (\d+)"),
                     ("user", r"User time \(seconds\): ([\d.]+)"),
                     ("sys", r"System time \(seconds\): ([\d.]+)")):
        m = re.search(pat, text)
        if m:
            out[key] = float(m.group(1))
    return out


def measure(cmd: list[str], *, tools: dict, log: Path, env: dict | None = None, poll: float = 0.05) -> dict:
    """Run ``cmd``; return wall time, peak tree RSS (psutil), kernel max RSS and CPU (GNU time)."""
    import psutil

    tfile = Path(tempfile.mkstemp(prefix="gtime_", suffix=".txt")[1])
    full = [tools["time"], "-v", "-o", str(tfile), *cmd] if tools["time"] else list(cmd)
    peak_sum = 0
    pids: set[int] = set()
    load_before = os.getloadavg()[0]
    with open(log, "w") as lf:
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=lf, stderr=subprocess.STDOUT, env=env)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = root.children(recursive=True)
                if not tools["time"]:
                    tree.append(root)
            except psutil.NoSuchProcess:
                break
            total = 0
            for p in tree:
                try:
                    total += p.memory_info().rss
                    pids.add(p.pid)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            peak_sum = max(peak_sum, total)
            time.sleep(poll)
        rc = proc.wait()
        wall = time.perf_counter() - t0
    gt = _parse_gnu_time(tfile)
    tfile.unlink(missing_ok=True)
    return {
        "wall_s": wall, "rc": rc, "n_procs": len(pids),
        "tree_peak_rss_mb": peak_sum / MB if peak_sum else None,
        "max_proc_rss_mb": gt["maxrss_kb"] / 1024 if "maxrss_kb" in gt else None,
        "cpu_s": gt["user"] + gt["sys"] if "user" in gt else None,
        "load_before": load_before, "load_after": os.getloadavg()[0],
    }


# -- the two tools ----------------------------------------------------------------------------
def overview_levels(size: int) -> int:
    """Overview levels geouic builds for a map of this size (factors 2..64 down to >= 256 px)."""
    return len([f for f in (2, 4, 8, 16, 32, 64) if size / f >= 256]) if size > 1024 else 0


def geouic_command(scene: Path, out: Path, k: int, sample: int, args: list[str]) -> list[str]:
    exe = shutil.which("geouic")
    base = [exe] if exe else [sys.executable, "-c", "from geouic.cli import main; main()"]
    return [*base, "classify", str(scene), "--method", "kmeans", "-k", str(k), "--sample-size", str(sample),
            "--seed", "0", "-o", str(out), "--overwrite", "-q", *args]


def run_geouic(scene: Path, size: int, out: Path, variant: tuple[str, dict, list[str]], k: int,
               sample: int, repeat: int, tools: dict, work: Path) -> Run:
    name, extra_env, args = variant
    cmd = geouic_command(scene, out, k, sample, args)
    out.unlink(missing_ok=True)
    env = dict(os.environ, **extra_env)
    log = work / "logs" / f"geouic_{name}_{size}_{repeat}.log"
    m = measure(cmd, tools=tools, log=log, env=env)
    text = log.read_text()
    steps = {}
    fm = re.search(r"fit ([\d.]+) s, predict ([\d.]+) s", text)
    if fm:
        steps = {"fit (sample + k-means)": float(fm.group(1)), "predict + write": float(fm.group(2))}
    shown = " ".join([*(f"{k_}={v}" for k_, v in extra_env.items()), *map(shlex.quote, cmd)])
    note = "" if m["rc"] == 0 else f"FAILED rc={m['rc']}: {text.strip().splitlines()[-1][:200] if text.strip() else ''}"
    return Run(tool=f"geouic kmeans ({name})", scene=f"{size}x{size}x6", repeat=repeat, command=shown,
               steps=steps, note=note, **m)


GRASS_STEPS = """set -e
step() {{ local name=$1; shift; local a=$EPOCHREALTIME; "$@"; echo "$name $a $EPOCHREALTIME" >> {steps}; }}
step r.in.gdal r.in.gdal input={scene} output=scene --quiet
step g.region g.region raster=scene.1
step i.group i.group group=g subgroup=g input={bands} --quiet
step i.cluster i.cluster group=g subgroup=g signaturefile=sig classes={k} {sample}reportfile={report} --quiet
step i.maxlik i.maxlik group=g subgroup=g signaturefile=sig output=classes --quiet
step r.out.gdal r.out.gdal input=classes output={out} format=GTiff type=Byte nodata=0 overviews={ovr} \
createopt=COMPRESS=DEFLATE,PREDICTOR=2,TILED=YES,BLOCKXSIZE=256,BLOCKYSIZE=256 --overwrite --quiet
"""


def grass_interval(size: int, sample: int) -> int:
    """Row and column sampling interval giving about ``sample`` cells on a size x size scene."""
    return max(1, round(math.sqrt(size * size / sample)))


def run_grass(scene: Path, size: int, out: Path, mode: str, k: int, sample: int, repeat: int,
              tools: dict, work: Path) -> Run:
    db = Path(tempfile.mkdtemp(prefix="grassdb_", dir=work))
    try:
        loc = db / "loc"
        setup = subprocess.run([tools["grass"], "-c", str(scene), "-e", str(loc)], capture_output=True, text=True)
        if setup.returncode != 0:
            raise RuntimeError(f"GRASS location creation failed: {setup.stderr[-500:]}")
        steps_file, report = db / "steps.txt", work / "logs" / f"i.cluster_{mode}_{size}_{repeat}.txt"
        for stale in (report, out):  # never let a failed run leave an earlier run's files
            stale.unlink(missing_ok=True)
        interval = grass_interval(size, sample)
        sample_opt = f"sample={interval},{interval} " if mode == "match" else ""
        script = db / "steps.sh"
        script.write_text(GRASS_STEPS.format(
            steps=steps_file, scene=scene, bands=",".join(f"scene.{i}" for i in range(1, 7)), k=k,
            sample=sample_opt, report=report, out=out, ovr=overview_levels(size)))
        cmd = [tools["grass"], str(loc / "PERMANENT"), "--exec", "bash", str(script)]
        log = work / "logs" / f"grass_{mode}_{size}_{repeat}.log"
        m = measure(cmd, tools=tools, log=log)
        steps = {}
        if steps_file.exists():
            for line in steps_file.read_text().splitlines():
                name, a, b = line.split()
                steps[name] = float(b) - float(a)
        n_sample = None
        if report.exists():
            sm = re.search(r"Sample size: (\d+) points", report.read_text())
            n_sample = int(sm.group(1)) if sm else None
        label = f"sample={interval},{interval}" if mode == "match" else "default sample"
        note = f"i.cluster sample: {n_sample} cells" if n_sample else ""
        if m["rc"] != 0:
            note = f"FAILED rc={m['rc']} (see {log})"
        return Run(tool=f"GRASS i.cluster + i.maxlik ({label})", scene=f"{size}x{size}x6", repeat=repeat,
                   command=" ".join(map(shlex.quote, cmd)), steps=steps, note=note, **m)
    finally:
        shutil.rmtree(db, ignore_errors=True)


# -- checks and report ------------------------------------------------------------------------
def agreement(a: Path, b: Path, step: int = 4) -> float | None:
    """V-measure between two label maps on every ``step``-th row and column (valid in both)."""
    import rasterio
    from sklearn.metrics import v_measure_score

    if not (a.exists() and b.exists()):
        return None
    with rasterio.open(a) as da, rasterio.open(b) as db:
        if (da.width, da.height) != (db.width, db.height):
            return None
        x = da.read(1)[::step, ::step].ravel()
        y = db.read(1)[::step, ::step].ravel()
    keep = (x > 0) & (y > 0)
    return float(v_measure_score(x[keep], y[keep]))


def machine() -> dict:
    info = {"nproc": os.cpu_count(), "python": platform.python_version()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"Model name:\s*(.+)", lscpu)
        info["cpu"] = m.group(1).strip() if m else "unknown"
    except OSError:
        info["cpu"] = "unknown"
    with open("/proc/meminfo") as f:
        info["ram_gb"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    try:
        import rasterio
        import sklearn

        import geouic

        info.update(gdal=rasterio.__gdal_version__, rasterio=rasterio.__version__,
                    sklearn=sklearn.__version__, geouic=geouic.__version__)
    except ImportError:
        pass
    try:
        info["commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                        capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "geouic"],
                               capture_output=True, text=True).stdout.split("\n")
        info["geouic_dirty"] = [line[3:] for line in dirty if line.strip()]
    except OSError:
        pass
    return info


def _fmt(v, nd=0):
    return "n/a" if v is None else f"{v:.{nd}f}"


def markdown(runs: list[Run], meta: dict, checks: dict, targets: list[str]) -> str:
    mach = meta["machine"]
    dirty = mach.get("geouic_dirty")
    lines = [
        f"Date: {meta['date']}. Machine: {mach['nproc']} CPUs ({mach['cpu']}), {mach['ram_gb']} GB RAM; "
        f"GRASS: {meta['grass_version'] or 'not run'}; GDAL {mach.get('gdal')}, rasterio {mach.get('rasterio')}, "
        f"scikit-learn {mach.get('sklearn')}, geouic {mach.get('geouic')} (commit {mach.get('commit')}"
        + (f"; uncommitted changes in {', '.join(dirty)}" if dirty else "") + ")"
        + (f"; the tree moved during the run: {mach['changed_during_run']}" if mach.get("changed_during_run") else "")
        + ".",
        "",
        f"Load before: `{meta['uptime_before']}`  ",
        f"Load after: `{meta['uptime_after']}`",
        "",
        "| tool | scene | run | wall s | CPU s (user+sys) | peak tree RSS MB | max single-process RSS MB "
        "| procs | load1 before | notes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(f"| {r.tool} | {r.scene} | {r.repeat} | {r.wall_s:.1f} | {_fmt(r.cpu_s, 1)} | "
                     f"{_fmt(r.tree_peak_rss_mb)} | {_fmt(r.max_proc_rss_mb)} | {r.n_procs} | "
                     f"{r.load_before:.1f} | {r.note} |")
    lines += ["", "Steps (seconds, per run):", ""]
    for r in runs:
        if r.steps:
            lines.append(f"- {r.tool}, {r.scene}, run {r.repeat}: "
                         + ", ".join(f"{k} {v:.2f}" for k, v in r.steps.items()))
    if checks:
        lines += ["", "Map checks (V-measure, 1 = same partition; every 4th row/column, pixels valid in both):", ""]
        lines += [f"- {k}: {v:.3f}" for k, v in checks.items() if v is not None]
    lines += ["", "Targets:", ""] + [f"- {t}" for t in targets]
    return "\n".join(lines) + "\n"


def evaluate(runs: list[Run], size: int, big_size: int, mem_target: float, ratio_target: float) -> list[str]:
    out = []
    tag = f"{size}x{size}x6"
    ok_runs = [r for r in runs if r.rc == 0]
    grass_tools = sorted({r.tool for r in ok_runs if r.tool.startswith("GRASS") and r.scene == tag})
    for tool in sorted({r.tool for r in ok_runs if r.tool.startswith("geouic")}):
        geo = [r for r in ok_runs if r.tool == tool and r.scene == tag]
        for gtool in grass_tools:
            grass = [r for r in ok_runs if r.tool == gtool and r.scene == tag]
            if not geo or not grass:
                continue
            ratios = []
            for g in geo:  # pair each geouic run with the GRASS run of the same repeat
                same = [x for x in grass if x.repeat == g.repeat] or grass
                ratios.append(g.wall_s / same[0].wall_s)
            n_met = sum(x <= ratio_target for x in ratios)
            verdict = ("MET in every run" if n_met == len(ratios) else
                       f"NOT MET (met in {n_met} of {len(ratios)} runs)")
            out.append(f"{tool} / {gtool}: wall-time ratio per run = " + ", ".join(f"{x:.3f}" for x in ratios)
                       + f" (target <= {ratio_target}): {verdict}")
        if geo:
            p = max(max(r.tree_peak_rss_mb or 0, r.max_proc_rss_mb or 0) for r in geo)
            out.append(f"{tool}: peak RSS at {tag} = {p:.0f} MB (target <= {mem_target:.0f}): "
                       f"{'MET' if p <= mem_target else 'NOT MET'}")
        big = [r for r in ok_runs if r.tool == tool and r.scene == f"{big_size}x{big_size}x6"]
        if geo and big:
            small_p = max(max(r.tree_peak_rss_mb or 0, r.max_proc_rss_mb or 0) for r in geo)
            big_p = max(max(r.tree_peak_rss_mb or 0, r.max_proc_rss_mb or 0) for r in big)
            flat = big_p <= 1.10 * small_p
            out.append(f"{tool}: peak RSS at {big_size}x{big_size}x6 = {big_p:.0f} MB vs {small_p:.0f} MB at "
                       f"{tag} (x{big_p / small_p:.2f}; flat = within +10%): {'MET' if flat else 'NOT MET'}; "
                       f"<= {mem_target:.0f} MB there: {'MET' if big_p <= mem_target else 'NOT MET'}")
    return out


def parse_variant(text: str) -> tuple[str, dict, list[str]]:
    name, _, rest = text.partition("::")
    words = shlex.split(rest)
    env = {}
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        k, _, v = words.pop(0).partition("=")
        env[k] = v
    return name.strip() or "variant", env, words


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4000, help="benchmark scene size (default 4000)")
    parser.add_argument("--big-size", type=int, default=16000, help="geouic-only memory check size; 0 skips")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each tool on the benchmark scene")
    parser.add_argument("--classes", type=int, default=12)
    parser.add_argument("--sample-size", type=int, default=200_000, help="geouic --sample-size, and GRASS's with match")
    parser.add_argument("--grass-sample", default="match,default",
                        help="comma list of i.cluster sampling modes: match (about --sample-size cells), default")
    parser.add_argument("--grass-big", action="store_true", help="also run GRASS (match) on the big scene")
    parser.add_argument("--geouic-variant", action="append", default=[], metavar="NAME::ARGS",
                        help="extra geouic configuration (default configuration always runs)")
    parser.add_argument("--work", type=Path, default=HERE / "_work", help="scenes, outputs, logs (git-ignored)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the report here")
    parser.add_argument("--no-install", action="store_true", help="never run apt-get")
    parser.add_argument("--mem-target", type=float, default=300.0, help="MB")
    parser.add_argument("--ratio-target", type=float, default=0.5)
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(message)s", datefmt="%H:%M:%S", level=logging.INFO)

    try:
        import psutil  # noqa: F401
    except ImportError:
        raise SystemExit("psutil is needed to poll the process tree: pip install psutil") from None
    work = args.work.resolve()
    (work / "logs").mkdir(parents=True, exist_ok=True)
    (work / "out").mkdir(parents=True, exist_ok=True)
    print(f"disk: {shutil.disk_usage(work).free / 1e9:.0f} GB free under {work}")
    tools = find_tools(install=not args.no_install)
    scene, big, truth = make_scenes(work, args.size, args.big_size)

    variants = [("default", {}, [])] + [parse_variant(v) for v in args.geouic_variant]
    modes = [m.strip() for m in args.grass_sample.split(",") if m.strip()] if tools["grass"] else []
    mach = machine()  # versions and commit as the run starts (the tree may move while it runs)
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    runs: list[Run] = []
    out = work / "out"
    for rep in range(1, args.repeats + 1):
        jobs = [("geouic", v) for v in variants] + [("grass", m) for m in modes]
        if rep % 2 == 0:
            jobs.reverse()  # alternate the order so a load change does not favour one tool
        for kind, what in jobs:
            if kind == "geouic":
                logger.info("geouic %s on %s, run %d ...", what[0], scene.name, rep)
                r = run_geouic(scene, args.size, out / f"geouic_{what[0]}_{args.size}.tif", what,
                               args.classes, args.sample_size, rep, tools, work)
            else:
                logger.info("GRASS (%s sample) on %s, run %d ...", what, scene.name, rep)
                r = run_grass(scene, args.size, out / f"grass_{what}_{args.size}.tif", what, args.classes,
                              args.sample_size, rep, tools, work)
            logger.info("  %.1f s, peak tree RSS %s MB, max process RSS %s MB %s", r.wall_s,
                        _fmt(r.tree_peak_rss_mb), _fmt(r.max_proc_rss_mb), r.note)
            runs.append(r)
    if big is not None:
        for v in variants:
            logger.info("geouic %s on %s ...", v[0], big.name)
            r = run_geouic(big, args.big_size, out / f"geouic_{v[0]}_{args.big_size}.tif", v,
                           args.classes, args.sample_size, 1, tools, work)
            logger.info("  %.1f s, peak tree RSS %s MB, max process RSS %s MB %s", r.wall_s,
                        _fmt(r.tree_peak_rss_mb), _fmt(r.max_proc_rss_mb), r.note)
            runs.append(r)
        if args.grass_big and "match" in modes:
            logger.info("GRASS (match) on %s ...", big.name)
            runs.append(run_grass(big, args.big_size, out / f"grass_match_{args.big_size}.tif", "match",
                                  args.classes, args.sample_size, 1, tools, work))
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    checks = {}
    g_map = out / f"geouic_default_{args.size}.tif"
    for mode in modes:
        g_grass = out / f"grass_{mode}_{args.size}.tif"
        checks[f"geouic vs GRASS ({mode} sample), {args.size}"] = agreement(g_map, g_grass)
        if truth is not None:
            checks[f"GRASS ({mode} sample) vs truth, {args.size}"] = agreement(g_grass, truth)
    if truth is not None:
        for v in variants:
            checks[f"geouic ({v[0]}) vs truth, {args.size}"] = agreement(out / f"geouic_{v[0]}_{args.size}.tif", truth)
    end = machine()
    if (end.get("commit"), end.get("geouic_dirty")) != (mach.get("commit"), mach.get("geouic_dirty")):
        mach["changed_during_run"] = f"HEAD {end.get('commit')} at the end, geouic/ changes {end.get('geouic_dirty')}"
    meta = {"date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "machine": mach,
            "grass_version": tools["grass_version"], "uptime_before": uptime_before,
            "uptime_after": uptime_after, "argv": [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]}
    targets = evaluate(runs, args.size, args.big_size if big else 0, args.mem_target, args.ratio_target)
    text = markdown(runs, meta, checks, targets)
    print("\nCommand: python " + " ".join(map(shlex.quote, meta["argv"])) + "\n")
    print(text)
    stamp = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
    (work / f"results_{stamp}.json").write_text(json.dumps(
        {"meta": meta, "runs": [asdict(r) for r in runs], "checks": checks, "targets": targets}, indent=1))
    if args.markdown:
        args.markdown.write_text(text)
    return 0 if all(r.rc == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
