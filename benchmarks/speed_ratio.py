"""Whole ``geouic classify`` with the default engine against ``--method kmeans`` (issue 8, req. 5).

For each scene both commands run side by side in one session, as a user runs them (the CLI in
a subprocess: imports, sampling, fitting, the window loop, writing), alternating which goes
first from one repeat to the next. Recorded per run: wall time, CPU time (user + system of
the process and the children it waited for) and peak RSS (``os.wait4``), and the 1-minute load
before it; per scene the ratio default / kmeans of the median wall and CPU times. A command
that fails (for example the default UIC on landsat8_brazil, issue 15) is recorded with its
exit code and last error line, and the benchmark goes on.

Default scenes: ``landsat8_brazil`` (3 bands, 2041 x 1860 = 3.8 Mpx), ``rsgislib_aber_s2``
(10 bands, 0.88 Mpx) and ``salinas_150`` (204-band hyperspectral crop). Run from the
repository root::

    python -m benchmarks.speed_ratio                       # the three scenes, 1 repeat
    python -m benchmarks.speed_ratio --scenes salinas_150 --repeats 3
    python -m benchmarks.speed_ratio --markdown benchmarks/_work/speed.md
    python -m benchmarks.speed_ratio --render-only          # the section again, from the JSON
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import _bench

#: name -> (image under the data folder, K, what it is)
SCENES: dict[str, tuple[str, int, str]] = {
    "landsat8_brazil": ("landsat8_brazil/image.tif", 4, "Landsat 8, 3 bands uint16, 2041x1860 (3.8 Mpx)"),
    "rsgislib_aber_s2": ("rsgislib_aber_s2/image.tif", 4, "Sentinel-2, 10 bands uint16, 931x947 (0.88 Mpx)"),
    "nc_landsat7_landclass96": ("nc_landsat7_landclass96/image.tif", 7,
                                "Landsat 7, 6 bands int16, 489x443 (0.22 Mpx)"),
    "salinas_150": ("salinas_150/image.tif", 8, "AVIRIS hyperspectral crop, 204 bands int16, 150x150"),
    "indian_pines_85x70": ("indian_pines_85x70/image.tif", 4, "AVIRIS hyperspectral crop, 200 bands, 85x70"),
}
DEFAULT_SCENES = ("landsat8_brazil", "rsgislib_aber_s2", "salinas_150")
VARIANTS = {"default": [], "kmeans": ["--method", "kmeans"]}


def geouic_command() -> list[str]:
    """The installed ``geouic`` entry point beside this interpreter (else ``python -m``)."""
    exe = Path(sys.executable).parent / "geouic"
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from geouic.cli import main; main()"]


def measure_scene(name: str, data: Path, work: Path, repeats: int, timeout: float,
                  extra: list[str]) -> dict[str, Any]:
    """Both variants on one scene, ``repeats`` times, alternating the order."""
    image, k, what = SCENES[name]
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for rep in range(repeats):
        order = list(VARIANTS) if rep % 2 == 0 else list(VARIANTS)[::-1]
        for variant in order:
            out = work / f"{name}_{variant}_{rep}.tif"
            cmd = [*geouic_command(), "classify", str(data / image), "--classes", str(k), "--seed", "0",
                   "-o", str(out), "--overwrite", "-q", *VARIANTS[variant], *extra]
            res = _bench.run_measured(cmd, timeout=timeout)
            res["command"] = shlex.join(["geouic", *cmd[len(geouic_command()):]])
            res["error"] = _last_line(res.pop("stderr_tail")) if res["returncode"] else ""
            runs[variant].append(res)
            status = "ok" if not res["returncode"] else f"exit {res['returncode']}: {res['error'][:100]}"
            print(f"  {name} {variant:<8} rep {rep}: wall {res['wall_s']:.1f} s, CPU {res['cpu_s']:.1f} s, "
                  f"peak RSS {res['max_rss_mb']:.0f} MB, load {res['load1']:.2f} ({status})", flush=True)
            out.unlink(missing_ok=True)
    summary: dict[str, Any] = {"scene": name, "k": k, "what": what, "runs": runs}
    for variant, rs in runs.items():
        ok = [r for r in rs if not r["returncode"]]
        summary[variant] = {"ok": len(ok), "failed": len(rs) - len(ok),
                            "wall_s": statistics.median(r["wall_s"] for r in ok) if ok else None,
                            "cpu_s": statistics.median(r["cpu_s"] for r in ok) if ok else None,
                            "max_rss_mb": max(r["max_rss_mb"] for r in ok) if ok else None,
                            "error": next((r["error"] for r in rs if r["returncode"]), "")}
    d, km = summary["default"], summary["kmeans"]
    for key in ("wall_s", "cpu_s"):
        summary[f"ratio_{key}"] = d[key] / km[key] if d[key] and km[key] else None
    return summary


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def render_markdown(result: dict[str, Any]) -> str:
    """A RESULTS.md section: command, machine, one row per scene."""
    m = result["machine"]
    lines = [f"## Speed ratio: default engine vs k-means, whole `geouic classify` ({result['date']})", "",
             f"Command: `{result['command']}` (git {result['git']}"
             + (f", uncommitted in geouic/: {result['dirty']}" if result["dirty"] else "") + "). "
             f"Machine: {m['cpu_model']}, {m['usable_cores']} usable cores, {m['memory_gb']} GB, Python {m['python']}, "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
             + f"; load average (1 min) {result['load_start']:.2f} at start, {result.get('load_end', 0):.2f} at end. "
             "Each cell: median over repeats; peak RSS is the process's maximum resident set. "
             "Issue 8 asks for default / kmeans <= 20 (wall time).", "",
             "| scene | K | repeats | default wall s | default CPU s | default peak RSS MB | kmeans wall s | "
             "kmeans CPU s | kmeans peak RSS MB | ratio wall | ratio CPU |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    f = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    for s in result["scenes"]:
        d, km = s["default"], s["kmeans"]
        dcell = f(d["wall_s"]) if d["ok"] else f"failed: {d['error'][:90].replace('|', '/')}"
        lines.append(f"| {s['scene']} ({s['what']}) | {s['k']} | {d['ok'] + d['failed']} | {dcell} | {f(d['cpu_s'])} | "
                     f"{f(d['max_rss_mb'], 0)} | {f(km['wall_s'])} | {f(km['cpu_s'])} | {f(km['max_rss_mb'], 0)} | "
                     f"{f(s['ratio_wall_s'])} | {f(s['ratio_cpu_s'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed_ratio", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", default=",".join(DEFAULT_SCENES), help=f"comma list among {', '.join(SCENES)}")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before a command is killed")
    p.add_argument("--data", type=Path, default=_bench.DATA)
    p.add_argument("--json", type=Path, default=_bench.ROOT / "benchmarks" / "_work" / "speed_ratio.json")
    p.add_argument("--markdown", type=Path, default=None, help="also write the RESULTS.md section here")
    p.add_argument("--extra", default="", help="extra options for both commands, e.g. '--workers 2'")
    p.add_argument("--render-only", action="store_true", help="only print (and write) the section from --json")
    args = p.parse_args(argv)
    if args.render_only:
        md = render_markdown(json.loads(args.json.read_text()))
        if args.markdown:
            args.markdown.write_text(md)
        print(md)
        return 0
    scenes = [s.strip() for s in args.scenes.split(",") if s.strip()]
    for s in scenes:
        if s not in SCENES:
            p.error(f"unknown scene {s!r}: choose among {', '.join(SCENES)}")
    import os

    result: dict[str, Any] = {
        "command": "python -m benchmarks.speed_ratio " + shlex.join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        **_bench.git_state(("geouic",)), "machine": _bench.machine_info(), "load_start": os.getloadavg()[0],
        "scenes": []}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="geouic-speed-") as tmp:
        for name in scenes:
            result["scenes"].append(measure_scene(name, args.data, Path(tmp), args.repeats, args.timeout,
                                                  shlex.split(args.extra)))
            result["load_end"] = os.getloadavg()[0]
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    md = render_markdown(result)
    if args.markdown:
        args.markdown.write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
