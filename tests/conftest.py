"""Root pytest configuration: the `--update-goldens` flag (sets UPDATE_GOLDENS=1 for golden
tests) and the `e2e` marker for tests that run real Envoys."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output instead of comparing",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--update-goldens"):
        os.environ["UPDATE_GOLDENS"] = "1"
