"""Finding and running the geouic executable, as the GRASS, SAGA and OTB providers run theirs.

The executable is, in order: the path set in Processing options (Settings > Options >
Processing > Providers > geouic), the one recorded by ``geouic qgis install`` (``geouic.json``
beside this file), or ``geouic`` on PATH. It runs with its standard error on a pseudo-terminal
(POSIX), so that it draws its progress bar; the percentages go to the Processing progress bar,
its messages to the log, and its one-line ``Error: ...`` becomes the algorithm's error.
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess

from qgis.core import QgsProcessingException

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "geouic.json")
EXECUTABLE_SETTING = "GEOUIC_EXECUTABLE"
_PERCENT = re.compile(r"(\d{1,3})%")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def config():
    """What ``geouic qgis install`` recorded: executable, version, commands with help and options."""
    try:
        with open(CONFIG, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def executable():
    """The geouic executable to run, or None."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig

        configured = ProcessingConfig.getSetting(EXECUTABLE_SETTING)
    except Exception:  # Processing not initialised (plain PyQGIS)
        configured = None
    for candidate in (configured, config().get("executable"), shutil.which("geouic")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def run_geouic(args, feedback):
    """Run ``geouic ARGS``; progress and messages go to ``feedback``.

    Raises
    ------
    QgsProcessingException
        The executable is missing, the command failed (its own one-line message), or the user
        cancelled.
    """
    exe = executable()
    if exe is None:
        raise QgsProcessingException(
            "geouic executable not found: set its path in Settings > Options > Processing > Providers > geouic, "
            "put geouic on PATH, or run `geouic qgis install` from the environment where geouic is installed.")
    command = [exe, *[str(a) for a in args]]
    if feedback is not None:
        feedback.pushCommandInfo(" ".join(_quote(c) for c in command))
    if os.name == "posix":
        rc, lines = _run_on_pty(command, feedback)
    else:  # pragma: no cover - Windows: no pseudo-terminal, no percentages
        proc = subprocess.run(command, capture_output=True, text=True)
        rc, lines = proc.returncode, (proc.stdout + proc.stderr).splitlines()
        for line in lines:
            _report(line, feedback)
    if feedback is not None and feedback.isCanceled():
        raise QgsProcessingException("geouic was cancelled; no output was written.")
    if rc != 0:
        errors = [ln for ln in lines if ln.startswith("Error:")]
        message = errors[-1][len("Error:"):].strip() if errors else (lines[-1] if lines else f"exit code {rc}")
        raise QgsProcessingException(message)
    return lines


def _quote(word):
    return word if re.fullmatch(r"[\w@%+=:,./-]+", word) else "'" + word.replace("'", "'\\''") + "'"


def _report(line, feedback):
    if feedback is None or not line:
        return
    if line.startswith("Error:"):
        return  # raised as the algorithm's error, reported once by QGIS
    if line.startswith("Warning:"):
        feedback.pushWarning(line[len("Warning:"):].strip())
    else:
        feedback.pushInfo(line)


def _run_on_pty(command, feedback):
    import pty

    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS="100")
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    buffer, lines, cancelled = "", [], False
    try:
        while True:
            if feedback is not None and feedback.isCanceled() and not cancelled:
                cancelled = True
                os.killpg(proc.pid, signal.SIGINT)
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            buffer += _ANSI.sub("", chunk.decode("utf-8", "replace"))
            *parts, buffer = re.split(r"[\r\n]", buffer)
            for part in parts:
                _line(part.strip(), lines, feedback)
    finally:
        os.close(master)
        proc.wait()
    _line(buffer.strip(), lines, feedback)
    return proc.returncode, lines


def _line(text, lines, feedback):
    if not text:
        return
    match = _PERCENT.search(text)
    if match and "[" in text:  # a progress bar redraw: "Classifying  [#####-----]   42%"
        if feedback is not None:
            feedback.setProgress(min(100, int(match.group(1))))
        return
    lines.append(text)
    _report(text, feedback)
