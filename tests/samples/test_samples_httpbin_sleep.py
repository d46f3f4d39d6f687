"""httpbin and sleep over real HTTP; every sample app's server contract (keep-alive, SIGTERM)."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.samples.sample_apps import BOOKINFO_SRC, SAMPLES, App, AppRunner, clean_env, fetch

HTTPBIN = SAMPLES / "httpbin" / "httpbin.py"
SLEEP = SAMPLES / "sleep" / "sleep.py"
ALL_APPS = [
    HTTPBIN,
    SLEEP,
    BOOKINFO_SRC / "details" / "details.py",
    BOOKINFO_SRC / "ratings" / "ratings.py",
    BOOKINFO_SRC / "reviews" / "reviews.py",
    BOOKINFO_SRC / "productpage" / "productpage.py",
]


@pytest.fixture(scope="module")
def httpbin(module_apps: AppRunner) -> App:
    return module_apps.start(HTTPBIN, {"POD_NAME": "httpbin-v1-3"})


def test_get_echoes_args_and_headers_and_names_the_instance(httpbin: App) -> None:
    reply = fetch(f"{httpbin.url}/get?show=1&tag=a&tag=b", headers={"X-Test-Header": "42"})
    assert reply.status == 200
    assert reply.headers["x-served-by"] == "httpbin-v1-3"
    document = reply.json()
    assert document["args"] == {"show": "1", "tag": ["a", "b"]}
    assert document["headers"]["X-Test-Header"] == "42"
    assert document["headers"]["Host"] == f"{httpbin.host}:{httpbin.port}"
    assert document["url"] == f"http://{httpbin.host}:{httpbin.port}/get?show=1&tag=a&tag=b"
    assert document["origin"].startswith("127.")
    assert fetch(f"{httpbin.url}/get", "POST", body=b"x").status == 405


def test_headers_ip_user_agent(httpbin: App) -> None:
    headers = fetch(f"{httpbin.url}/headers", headers={"end-user": "jason"}).json()["headers"]
    assert headers["End-User"] == "jason"
    forwarded = fetch(f"{httpbin.url}/ip", headers={"X-Forwarded-For": "10.1.2.3, 10.0.0.1"})
    assert forwarded.json() == {"origin": "10.1.2.3"}
    agent = fetch(f"{httpbin.url}/user-agent", headers={"User-Agent": "probe/2"}).json()
    assert agent == {"user-agent": "probe/2"}


def test_status_codes(httpbin: App) -> None:
    for code in (200, 204, 418, 503):
        reply = fetch(f"{httpbin.url}/status/{code}")
        assert reply.status == code
        assert reply.headers["x-served-by"] == "httpbin-v1-3"
    seen = {fetch(f"{httpbin.url}/status/500,503").status for _ in range(30)}
    assert seen == {500, 503}
    assert {fetch(f"{httpbin.url}/status/201:1,500:0").status for _ in range(5)} == {201}
    assert fetch(f"{httpbin.url}/status/teapot").status == 400


def test_delay_waits(httpbin: App) -> None:
    started = time.monotonic()
    reply = fetch(f"{httpbin.url}/delay/0.4?x=1")
    assert time.monotonic() - started >= 0.4
    assert reply.status == 200 and reply.json()["args"] == {"x": "1"}


def test_anything_and_body_methods_echo_the_request(httpbin: App) -> None:
    payload = json.dumps({"a": [1, 2]}).encode()
    reply = fetch(
        f"{httpbin.url}/anything/deep/path?q=z",
        "PUT",
        {"Content-Type": "application/json"},
        body=payload,
    )
    document = reply.json()
    assert document["method"] == "PUT"
    assert document["json"] == {"a": [1, 2]}
    assert document["data"] == payload.decode()
    assert document["args"] == {"q": "z"}
    assert document["url"].endswith("/anything/deep/path?q=z")
    form = fetch(
        f"{httpbin.url}/post",
        "POST",
        {"Content-Type": "application/x-www-form-urlencoded"},
        body=b"name=pilot&fish=1",
    ).json()
    assert form["form"] == {"name": "pilot", "fish": "1"}
    assert fetch(f"{httpbin.url}/delete", "DELETE").status == 200


def test_response_headers_and_index(httpbin: App) -> None:
    reply = fetch(f"{httpbin.url}/response-headers?x-canary=yes")
    assert reply.headers["x-canary"] == "yes" and reply.json() == {"x-canary": "yes"}
    assert "/status/" in fetch(f"{httpbin.url}/").text


def test_stats_count_requests_per_path_and_reset(apps: AppRunner) -> None:
    httpbin = apps.start(HTTPBIN)
    for _ in range(3):
        fetch(f"{httpbin.url}/status/503")
    fetch(f"{httpbin.url}/get")
    stats = fetch(f"{httpbin.url}/stats/requests").json()
    assert stats == {"total": 4, "paths": {"/get": 1, "/status/503": 3}}
    assert fetch(f"{httpbin.url}/stats/requests", "DELETE").json() == stats
    assert fetch(f"{httpbin.url}/stats/requests").json() == {"total": 0, "paths": {}}


def test_sleep_serves_a_trivial_200(apps: AppRunner) -> None:
    sleep = apps.start(SLEEP)
    reply = fetch(f"{sleep.url}/anything")
    assert reply.status == 200 and reply.text == "sleep\n"


def _wait_until_catches_sigterm(pid: int, timeout: float = 15.0) -> None:
    """Block until the process has installed its SIGTERM handler (SigCgt in /proc), so a slow
    interpreter start on a loaded machine is not mistaken for a missing handler."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:") and int(line.split()[1], 16) & (
                1 << (signal.SIGTERM - 1)
            ):
                return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never installed a SIGTERM handler")


def test_sleep_without_port_waits_for_sigterm() -> None:
    env = clean_env({})
    process = subprocess.Popen([sys.executable, str(SLEEP)], cwd=SLEEP.parent, env=env)
    try:
        _wait_until_catches_sigterm(process.pid)
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5.0) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("script", ALL_APPS, ids=lambda p: p.stem)
def test_app_keeps_connections_alive_and_stops_on_sigterm(apps: AppRunner, script: Path) -> None:
    app = apps.start(script)
    connection = http.client.HTTPConnection(app.host, app.port, timeout=10)
    try:
        for _ in range(2):
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            assert response.getheader("Content-Length") is not None
            assert not response.will_close
        first_socket = connection.sock
        connection.request("GET", "/health")
        connection.getresponse().read()
        assert connection.sock is first_socket
    finally:
        connection.close()
    started = time.monotonic()
    app.process.send_signal(signal.SIGTERM)
    assert app.process.wait(timeout=5.0) == 0  # exits promptly, and cleanly, on the signal
    assert time.monotonic() - started < 5.0
