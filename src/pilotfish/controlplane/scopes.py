"""The control plane's logging scopes, as Istio's (`istioctl admin log`, ControlZ's scopes page):
each scope is a name istiod users know (`ads`, `ca`, `default`, …) standing for the Python
loggers of the part of the control plane that does that job. A scope's output level is its
loggers' level (so a level change really changes what the process logs); its stack trace level
adds the call stack to records at or above it. Levels are Istio's: debug, info, warn, error,
none. `--reset` puts every scope back to info and no stack traces, as istioctl's does.

Owns `SCOPES` (the table), `Scopes` (reading and setting levels; `install` once at start) and
`ScopeError` (an unknown scope or level: the caller answers 400).
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

NONE = logging.CRITICAL + 10
"""Istio's `none`: above every level a record can have."""
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "error": logging.ERROR, "none": NONE}  # fmt: skip


@dataclass(frozen=True)
class ScopeSpec:
    name: str
    description: str
    loggers: tuple[str, ...]
    """Python loggers (and so their children) whose records belong to the scope."""


SCOPES = (
    ScopeSpec("ads", "ads debugging: xDS streams, pushes, ACKs and NACKs", ("pilotfish.xds",)),
    ScopeSpec("authorization", "Istio Authorization Policy", ("pilotfish.authorization",)),
    ScopeSpec("ca", "CA service debugging", ("pilotfish.ca",)),
    ScopeSpec("default", "Unscoped logging messages.", ("pilotfish",)),
    ScopeSpec("validation", "CRD validation debugging", ("pilotfish.validation",)),
    ScopeSpec("wle", "wle controller debugging", ("pilotfish.autoregistration",)),
)


class ScopeError(ValueError):
    """An unknown scope name or level."""


def level_name(level: int) -> str:
    """Istio's name of a Python level (the nearest at or below it)."""
    for name in ("none", "error", "warn", "info"):
        if level >= LEVELS[name]:
            return name
    return "debug"


def parse_level(text: str) -> int:
    try:
        return LEVELS[text]
    except KeyError:
        raise ScopeError(f"unknown level {text!r}: one of {', '.join(LEVELS)}") from None


class Scopes:
    """The process's scopes. `install` gives each scope's loggers the starting level (so a
    scope's level is its own, not inherited from another's) and adds the stack trace filter
    to the root logger's handlers."""

    def __init__(self, specs: tuple[ScopeSpec, ...] = SCOPES) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self.stack_levels = {spec.name: NONE for spec in specs}
        self._by_logger = sorted(
            ((logger, spec.name) for spec in specs for logger in spec.loggers),
            key=lambda pair: -len(pair[0]),
        )

    def install(self, level: int) -> None:
        for spec in self.specs.values():
            for name in spec.loggers:
                logging.getLogger(name).setLevel(level)
        for handler in logging.getLogger().handlers:
            handler.addFilter(self._stack_filter)

    def scope_of(self, logger: str) -> str | None:
        for prefix, scope in self._by_logger:
            if logger == prefix or logger.startswith(prefix + "."):
                return scope
        return None

    def _spec(self, name: str) -> ScopeSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise ScopeError(f"unknown scope name: {name}") from None

    def info(self, name: str) -> dict[str, object]:
        """ControlZ's JSON of one scope (`/scopej/NAME`)."""
        spec = self._spec(name)
        return {
            "name": spec.name,
            "description": spec.description,
            "output_level": level_name(logging.getLogger(spec.loggers[0]).getEffectiveLevel()),
            "stack_trace_level": level_name(self.stack_levels[name]),
            "log_callers": False,
        }

    def all(self) -> list[dict[str, object]]:
        return [self.info(name) for name in sorted(self.specs)]

    def update(self, name: str, output_level: str = "", stack_trace_level: str = "") -> None:
        """Set what is given (an empty level is left as it is); nothing changes on an error."""
        spec = self._spec(name)
        output = parse_level(output_level) if output_level else None
        stack = parse_level(stack_trace_level) if stack_trace_level else None
        if output is not None:
            for logger in spec.loggers:
                logging.getLogger(logger).setLevel(output)
        if stack is not None:
            self.stack_levels[name] = stack

    def _stack_filter(self, record: logging.LogRecord) -> bool:
        scope = self.scope_of(record.name)
        if (
            scope is not None
            and record.levelno >= self.stack_levels[scope]
            and not record.stack_info
            and not record.exc_info
        ):
            frames = [
                frame
                for frame in traceback.extract_stack()
                if frame.filename != logging.__file__ and frame.filename != __file__
            ]
            stack = "".join(traceback.format_list(frames)).rstrip("\n")
            record.stack_info = "Stack (most recent call last):\n" + stack
        return True
