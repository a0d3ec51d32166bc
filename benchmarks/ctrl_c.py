"""Ctrl-C during UIC training: seconds from SIGINT to the exit of ``geouic classify`` (issue 10).

Starts the default engine on a scene with ``-v``, sends SIGINT half a second after the first
epoch line, and reports when the "Interrupted" line came, when the process exited, its exit
code, and whether anything was left in the output folder.

Run: ``python -m benchmarks.ctrl_c [--scene landsat5_amazon] [--classes 4] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def one(scene: Path, classes: int) -> tuple[int, float, float, list[str]]:
    """(exit code, seconds to the message, seconds to the exit, files left) for one interrupted run."""
    out = tempfile.mkdtemp()
    exe = Path(sys.executable).with_name("geouic")
    # default SIGINT disposition in the child even when this script runs as a background job
    proc = subprocess.Popen([str(exe), "-v", "classify", str(scene), "--classes", str(classes),
                             "-o", os.path.join(out, "classes.tif")], stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stderr is not None
    t0 = None
    for line in proc.stderr:
        if "epoch" in line.lower():
            time.sleep(0.5)
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGINT)
            break
    if t0 is None:
        raise SystemExit(f"no epoch line from geouic classify {scene}: {proc.wait()}")
    message = float("nan")
    for line in proc.stderr:
        if "Interrupted" in line:
            message = time.perf_counter() - t0
    code = proc.wait()
    return code, message, time.perf_counter() - t0, os.listdir(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", default="landsat5_amazon")
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scene = DATA / args.scene / "image.tif"
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    for _ in range(args.repeats):
        code, message, gone, left = one(scene, args.classes)
        print(f"{args.scene}: exit {code}; message after {message:.2f} s, exit after {gone:.2f} s; left: {left}")


if __name__ == "__main__":
    main()
