"""What a batch step may say: the parameters of a geouic command, read from its click command.

A jobs file names options exactly as the CLI does (``classes``, ``save-model``, ``mem-limit``),
so the only source of truth is the command itself: :func:`specs_from_commands` reads each
command's parameters (duck-typed on click's ``Parameter`` attributes, so this module does not
import click) into a :class:`StepSpec`, which validates a step's options and turns them into
the argument list of the same command run by hand.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from geouic.batch.errors import BatchFileError

__all__ = ["ParamSpec", "StepSpec", "specs_from_commands", "OUTPUT_PARAMS", "EXTRA_INPUT_PARAMS"]

#: parameter names (click's ``param.name``) that name files a command writes.
OUTPUT_PARAMS = frozenset({"output", "save_model", "confidence", "entropy", "memberships"})
#: parameters that are not typed as paths but may name an input file (a schema file or a preset).
EXTRA_INPUT_PARAMS = frozenset({"schema"})


def _key(text: str) -> str:
    """``--save_model`` / ``save_model`` / ``save-model`` -> ``save-model``."""
    return text.lstrip("-").replace("_", "-").lower()


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a command, as a jobs file names it.

    Attributes
    ----------
    name : str
        click's parameter name (``n_classes``).
    key : str
        The name used in jobs files: the long flag without dashes (``classes``), or the
        argument's name with dashes (``class-map``).
    aliases : tuple of str
        Other accepted keys (short spellings, the argument's metavar).
    argument : bool
        True for a positional argument.
    flag : str
        The flag written on the command line (``--classes``); empty for arguments.
    off_flag : str
        The negative flag of a boolean switch (``--no-x``), or empty.
    is_flag, multiple, count, variadic, required : bool
        How values are written: a switch, a repeatable option, a counted flag (``-v``),
        an argument taking several values, a parameter without default.
    role : {"input", "output", "other"}
        Whether the value names a file read or written by the command.
    type : object
        click's parameter type, used to check values before anything runs.
    """

    name: str
    key: str
    aliases: tuple[str, ...]
    argument: bool
    flag: str
    off_flag: str
    is_flag: bool
    multiple: bool
    count: bool
    variadic: bool
    required: bool
    role: str
    type: Any = None
    param: Any = field(default=None, compare=False, repr=False)

    def check(self, value: Any) -> str | None:
        """None when ``value`` suits the parameter's type, else the type's own message."""
        if self.type is None or self.role != "other" or self.is_flag or self.count:
            return None
        values = value if isinstance(value, list) else [value]
        for v in values:
            try:
                self.type.convert(str(v), self.param, None)
            except Exception as exc:  # click.BadParameter; its message names the allowed values
                formatter = getattr(exc, "format_message", None)
                return str(formatter() if callable(formatter) else exc)
        return None

    def argv(self, value: Any, workdir: str) -> list[str]:
        """The command-line words for ``value``."""
        if self.count:
            return [self.flag] * int(value)
        if self.is_flag:
            if value is True:
                return [self.flag]
            return [self.off_flag] if self.off_flag else []
        values = value if isinstance(value, list) else [value]
        if self.variadic:
            expanded: list[str] = []
            for v in values:
                text = str(v)
                if self.role == "input" and glob.has_magic(text):
                    expanded.extend(_glob(text, workdir))
                else:
                    expanded.append(text)
            values = expanded
        words: list[str] = []
        for v in values:
            if self.argument:
                words.append(str(v))
            else:
                words.extend([self.flag, _scalar(v)])
        return words


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _glob(pattern: str, workdir: str) -> list[str]:
    matches = sorted(glob.glob(pattern, root_dir=workdir))
    return matches if matches else [pattern]  # no match: the command names the missing file


@dataclass(frozen=True)
class StepSpec:
    """The parameters of one command (``classify``, ``predict``, ...), keyed as in jobs files."""

    command: str
    params: tuple[ParamSpec, ...]

    def lookup(self, key: str) -> ParamSpec | None:
        """The parameter a jobs-file key names, or None."""
        k = _key(key)
        for p in self.params:
            if k == p.key or k in p.aliases:
                return p
        return None

    @property
    def keys(self) -> list[str]:
        """Every key a step of this command accepts (for messages)."""
        return [p.key for p in self.params]

    def has(self, key: str) -> bool:
        """True when the command has the parameter ``key``."""
        return self.lookup(key) is not None


def _role(param: Any) -> str:
    if param.name in OUTPUT_PARAMS:
        return "output"
    if getattr(param.type, "name", "") == "path" or param.name in EXTRA_INPUT_PARAMS:
        return "input"
    return "other"


def _param_spec(param: Any) -> ParamSpec | None:
    kind = getattr(param, "param_type_name", "")
    if kind not in ("argument", "option"):
        return None
    if not param.expose_value and not getattr(param, "count", False):
        return None
    if getattr(param, "hidden", False) or param.name in ("help", "version"):
        return None
    argument = kind == "argument"
    opts = list(getattr(param, "opts", []))
    longs = [o for o in opts if o.startswith("--")]
    flag = (longs or opts or [""])[0] if not argument else ""
    if argument:
        key = _key(param.name)
        aliases = {_key(param.name)}
        if getattr(param, "metavar", None):
            aliases.add(_key(str(param.metavar)))
    else:
        key = _key(longs[0]) if longs else _key(param.name)
        aliases = {_key(o) for o in opts if o.startswith("--")} | {_key(param.name)}
    aliases.discard(key)
    secondary = list(getattr(param, "secondary_opts", []) or [])
    return ParamSpec(
        name=param.name, key=key, aliases=tuple(sorted(aliases)), argument=argument, flag=flag,
        off_flag=secondary[0] if secondary else "", is_flag=bool(getattr(param, "is_flag", False)),
        multiple=bool(getattr(param, "multiple", False)), count=bool(getattr(param, "count", False)),
        variadic=argument and getattr(param, "nargs", 1) == -1, required=bool(param.required),
        role=_role(param), type=param.type, param=param,
    )


def specs_from_commands(commands: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, StepSpec]:
    """Step specs from click commands.

    Parameters
    ----------
    commands : mapping of str to click.Command
        Command name (as typed after ``geouic``) to its click command object.

    Returns
    -------
    dict of str to StepSpec
    """
    items = commands.items() if isinstance(commands, Mapping) else commands
    specs: dict[str, StepSpec] = {}
    for name, command in items:
        if command is None:
            continue
        params = tuple(p for p in (_param_spec(p) for p in command.params) if p is not None)
        specs[name] = StepSpec(command=name, params=params)
    if not specs:
        raise BatchFileError("no geouic command is available to run as a batch step.")
    return specs
