"""Boolean flags written with a value, as kubectl and istioctl take them: Go's flag package reads
`--flag=true` and `--flag=false` for every boolean flag (Istio's cleanup steps type `kubectl
delete --ignore-not-found=true -f samples/httpbin/httpbin.yaml`), where click refuses a value on
a flag ("Option '--ignore-not-found' does not take a value").

Before the command line is parsed, each `--NAME=BOOL` whose NAME is a boolean flag of the
command tree (and nowhere an option that takes a value) becomes the flag itself: `--NAME` for
true; for false its `--no-NAME` form when it has one, else nothing (the flag's default is off).
BOOL is spelled as Go's `strconv.ParseBool` reads it. What follows `--` is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from typer.core import TyperCommand, TyperGroup, TyperOption

TRUE = frozenset(("1", "t", "T", "TRUE", "true", "True"))
FALSE = frozenset(("0", "f", "F", "FALSE", "false", "False"))
_SHAPE = re.compile(r"--[A-Za-z][\w-]*=(.*)")


def _walk(command: object) -> list[TyperCommand | TyperGroup]:
    if isinstance(command, TyperGroup):
        return [command, *(c for sub in command.commands.values() for c in _walk(sub))]
    return [command] if isinstance(command, TyperCommand) else []


def flag_forms(root: object) -> dict[str, tuple[str, str | None]]:
    """Each boolean flag name of the tree -> (its `true` form, its `false` form or None); a
    name that is an option taking a value in some command is left out (ambiguous)."""
    forms: dict[str, tuple[str, str | None]] = {}
    valued: set[str] = set()
    for command in _walk(root):
        for param in command.params:
            if not isinstance(param, TyperOption):
                continue
            if not param.is_flag or param.count or not param.is_bool_flag:
                valued.update(param.opts + param.secondary_opts)
                continue
            if not param.secondary_opts and param.default:
                valued.update(param.opts)  # on by default with no off form: left to refuse
                continue
            off = param.secondary_opts[0] if param.secondary_opts else None
            for name in param.opts:
                forms[name] = (name, off)
            for name in param.secondary_opts:
                forms[name] = (name, param.opts[0])
    return {name: form for name, form in forms.items() if name not in valued}


def with_bool_values(argv: list[str], tree: Callable[[], object]) -> list[str]:
    """`argv` with every `--FLAG=BOOL` of a boolean flag of the command tree written as the
    flag; `tree` makes the tree (click's root command), only when some argument has that shape."""
    cut = argv.index("--") if "--" in argv else len(argv)
    head, rest = argv[:cut], argv[cut:]
    shaped = [(arg, _SHAPE.fullmatch(arg)) for arg in head]
    if not any(m and m.group(1) in TRUE | FALSE for _, m in shaped):
        return argv
    forms = flag_forms(tree())
    kept: list[str] = []
    for arg, match in shaped:
        name = arg.split("=", 1)[0]
        if match is None or name not in forms or match.group(1) not in TRUE | FALSE:
            kept.append(arg)
            continue
        on, off = forms[name]
        chosen = on if match.group(1) in TRUE else off
        if chosen is not None:
            kept.append(chosen)
    return kept + rest
