"""Crafted model files are refused fast and small (issue 10, point 4).

Writes a tiny scene and a genuine k-means model, then crafted copies (a model claiming 10^9
classes, NaN centroids, a short look-up table, metadata that is a list), and runs
``geouic predict`` on each in a fresh process (plus UIC files whose metadata claims wider
layers than their weights), recording exit code, wall time, the child's
peak RSS (``wait4``) and the first line of its error. Prints a Markdown table.

Usage: .venv/bin/python benchmarks/crafted_models.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

GEOUIC = [sys.executable, "-m", "geouic"] if not (Path(sys.executable).parent / "geouic").exists() else \
    [str(Path(sys.executable).parent / "geouic")]


def run(args: list[str]) -> tuple[int, float, float, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(GEOUIC + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    line = (err.strip() or out.strip()).splitlines()[-1] if (err.strip() or out.strip()) else ""
    return proc.returncode, wall, usage.ru_maxrss / 1024, line


PROBE = """
import sys, time
from geouic.errors import ModelError
from geouic.model import load_model
t = time.perf_counter()
try:
    load_model(sys.argv[1])
except ModelError:
    pass
print(f"{time.perf_counter() - t:.4f}")
"""


def load_seconds(path: Path) -> float:
    """Seconds ``load_model`` takes to load or refuse ``path``, imports excluded."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def craft(src: Path, dst: Path, meta_change=None, arrays_change=None, meta_override=None) -> Path:
    with safe_open(str(src), framework="np") as f:
        meta = json.loads(f.metadata()["geouic"])
    arrays = load_file(str(src))
    if meta_change:
        meta_change(meta)
    if arrays_change:
        arrays_change(arrays)
    save_file(arrays, str(dst), metadata={"geouic": json.dumps(meta if meta_override is None else meta_override)})
    return dst


UIC_SCRIPT = """
import json, sys
from safetensors.numpy import save_file
from geouic.uic.model import build_net
net = build_net(4, 3, {"hidden": 32, "n_spatial": 2, "kernel": 3})
arrays = {f"net.{k}": v.numpy() for k, v in net.state_dict().items()}
base = {"engine": "uic", "n_classes": 3, "band_names": ["band1", "band2", "band3", "band4"], "format_version": 1}
for hidden in (5000, 1024):
    arch = {"hidden": hidden, "n_spatial": 2, "kernel": 3, "in_channels": 4}
    meta = {"geouic": json.dumps({**base, "arch": arch})}
    save_file(arrays, f"{sys.argv[1]}/uic_hidden{hidden}.geouic", metadata=meta)
"""


def uic_cases(work: Path) -> dict[str, Path]:
    """UIC-like files: genuine 32-wide weights, metadata claiming wider layers.

    Written by a child process, so this one never imports torch (a forked child's peak RSS
    counts the parent's memory at the fork).
    """
    subprocess.run([sys.executable, "-c", UIC_SCRIPT, str(work)], check=True)
    return {f"UIC weights 32 wide, arch hidden: {h}": work / f"uic_hidden{h}.geouic" for h in (5000, 1024)}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="crafted_"))
    rng = np.random.default_rng(0)
    data = (200 + 400 * rng.random((4, 256, 256))).astype(np.uint16)
    scene = work / "scene.tif"
    with rasterio.open(scene, "w", driver="GTiff", width=256, height=256, count=4, dtype="uint16", nodata=0,
                       crs="EPSG:32633", transform=from_origin(500000, 4600000, 30, 30)) as dst:
        dst.write(data)
    good = work / "good.geouic"
    rc, *_ = run(["train", str(scene), "--method", "kmeans", "-k", "3", "-o", str(good), "-q"])
    assert rc == 0
    cases = {
        "genuine k-means model (K=3)": good,
        "n_classes: 10^9": craft(good, work / "huge.geouic", lambda m: m.__setitem__("n_classes", 10**9)),
        "NaN centroids": craft(good, work / "nan.geouic", arrays_change=lambda a: a.__setitem__(
            "est.cluster_centers_", np.full_like(a["est.cluster_centers_"], np.nan))),
        "look-up table shorter than K": craft(good, work / "lut.geouic",
                                              arrays_change=lambda a: a.__setitem__("lut", a["lut"][:1])),
        "metadata is a list": craft(good, work / "list.geouic", meta_override=[1, 2, 3]),
        "format_version 'x'": craft(good, work / "ver.geouic", lambda m: m.__setitem__("format_version", "x")),
    }
    cases.update(uic_cases(work))
    print("| model file | size B | exit | wall s (whole command) | load_model s | peak RSS MB | message |")
    print("|---|---|---|---|---|---|---|")
    for name, path in cases.items():
        out = work / f"{path.stem}.tif"
        rc, wall, rss, line = run(["predict", str(path), str(scene), "-o", str(out)])
        load = load_seconds(path)
        line = line.replace(str(work) + os.sep, "")
        print(f"| {name} | {path.stat().st_size:,} | {rc} | {wall:.2f} | {load:.4f} | {rss:.0f} | {line[:110]} |")


if __name__ == "__main__":
    main()
