"""Fixtures for the sample-app tests; each stops, after the test, everything it started."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from tests.samples.sample_apps import AppRunner, RecordingServer, random_loopback


@pytest.fixture
def apps() -> Iterator[AppRunner]:
    runner = AppRunner()
    yield runner
    runner.stop_all()


@pytest.fixture(scope="module")
def module_apps() -> Iterator[AppRunner]:
    runner = AppRunner()
    yield runner
    runner.stop_all()


@pytest.fixture
def recorders() -> Iterator[list[RecordingServer]]:
    """Append started `RecordingServer`s here; they are stopped after the test."""
    started: list[RecordingServer] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def refused_address() -> Iterator[tuple[str, int]]:
    """A loopback address and port that refuse connections (bound, never listening)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((random_loopback(), 0))
    host, port = sock.getsockname()
    yield host, port
    sock.close()
