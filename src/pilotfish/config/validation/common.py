"""Shared pieces of semantic validation: the `Findings` collector and checks used by many kinds
(durations, string matches, destinations, percentages, label selectors).

Validators are pure functions `(spec) -> list[Problem]`; they never raise for user mistakes and
never see files: the loader attaches file:line from the field path.
"""

from __future__ import annotations

from pilotfish.config.durations import duration_problem
from pilotfish.config.formats import (
    dns1123_label_problem,
    host_problem,
    labels_problem,
    port_problem,
    regex_problem,
)
from pilotfish.config.objects import Level
from pilotfish.config.schema import Problem
from pilotfish.config.yaml_text import join_path


class Findings:
    """Collects problems for one spec."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message, "error"))

    def warn(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message, "warning"))

    def add(self, path: str, message: str | None, level: Level = "error") -> None:
        if message is not None:
            self.problems.append(Problem(path, message, level))

    def duration(self, path: str, value: str | None) -> None:
        if value is not None:
            self.add(path, duration_problem(value))

    def percent(self, path: str, value: float | None) -> None:
        if value is not None and not 0.0 <= value <= 100.0:
            self.error(path, f"percentage {value} is out of range 0-100")

    def non_negative(self, path: str, value: int | None, what: str) -> None:
        """Istio's `<what> must be non-negative` (its connection pool numbers)."""
        if value is not None and value < 0:
            self.error(path, f"{what} must be non-negative")

    def host(self, path: str, value: str | None, *, allow_star: bool = True) -> None:
        if value is None or value == "":  # Istio's CheckDNS1123Preconditions
            self.error(path, "empty domain name not allowed")
            return
        self.add(path, host_problem(value, allow_star=allow_star))

    def port(self, path: str, number: int | None, what: str = "port number") -> None:
        self.add(path, port_problem(number, what))

    def labels(self, path: str, labels: dict[str, str]) -> None:
        found = labels_problem(labels)
        if found is not None:
            self.error(join_path(path, found[0]), found[1])

    def subset_name(self, path: str, name: str | None) -> None:
        """Istio's validateSubsetName, in its words."""
        if name is None or name == "":
            self.error(path, "subset name cannot be empty")
        elif dns1123_label_problem(name) is not None:
            self.error(path, f"subset name is invalid: {name}")

    def string_match(
        self, path: str, exact: str | None, prefix: str | None, regex: str | None
    ) -> None:
        """StringMatch is a oneof: exactly one of exact, prefix, regex."""
        set_count = sum(v is not None for v in (exact, prefix, regex))
        if set_count == 0:
            self.error(path, "one of exact, prefix or regex must be set")
        elif set_count > 1:
            self.error(path, "only one of exact, prefix or regex may be set")
        if regex is not None:
            self.add(join_path(path, "regex"), regex_problem(regex))

    def weights(self, path: str, weights: list[int | None]) -> None:
        """Istio's validateWeight and total: every weight >= 0 (`weight -5 < 0`), and with
        several destinations their sum is not 0 (`total destination weight = 0`)."""
        for index, weight in enumerate(weights):
            if weight is not None and weight < 0:
                self.error(join_path(join_path(path, index), "weight"), f"weight {weight} < 0")
        if len(weights) > 1 and sum(w or 0 for w in weights) == 0:
            self.error(path, "total destination weight = 0")

    def one_of(self, path: str, names: list[str], values: list[object]) -> None:
        chosen = [n for n, v in zip(names, values, strict=True) if v not in (None, (), {})]
        if len(chosen) > 1:
            self.error(
                path, f"only one of {', '.join(names)} may be set (found {', '.join(chosen)})"
            )
