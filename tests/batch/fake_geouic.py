"""A stand-in for the ``geouic`` executable in runner tests (a real command takes seconds to start).

It writes every file named by --output/-o/--save-model (its content: the command line), refuses
to replace one without --overwrite, fails like geouic on an input path containing "missing",
and with FAKE_SLEEP=seconds waits first (exiting with 130 on SIGINT, as geouic does).
"""

import os
import signal
import sys
import time
from pathlib import Path

OUTPUT_FLAGS = {"-o", "--output", "--save-model"}

args = sys.argv[1:]
outputs = [args[i + 1] for i, a in enumerate(args[:-1]) if a in OUTPUT_FLAGS]
for a in args:
    if "missing" in a and a not in outputs:
        print(f"Error: {a}: no such file; check the path.", file=sys.stderr)
        sys.exit(2)
if os.environ.get("FAKE_SLEEP"):
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    print("started", flush=True)
    time.sleep(float(os.environ["FAKE_SLEEP"]))
for out in outputs:
    if Path(out).exists() and "--overwrite" not in args:
        print(f"Error: {out} exists; pass --overwrite to replace it.", file=sys.stderr)
        sys.exit(2)
for out in outputs:
    Path(out).write_text(" ".join(args))
print(f"{args[0]} -> {', '.join(outputs)}")
