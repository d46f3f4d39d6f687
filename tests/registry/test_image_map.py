"""The image map: Docker's reference rules, the shipped entries for Istio's sample images, a
user map read first, Kubernetes' command/args rules, and errors naming file and line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pilotfish.registry.images import (
    SAMPLES_DIR,
    ImageEntry,
    ImageMapError,
    load_image_map,
    repository,
)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("curlimages/curl:8.16.0", "docker.io/curlimages/curl"),
        ("docker.io/curlimages/curl", "docker.io/curlimages/curl"),
        ("index.docker.io/curlimages/curl:latest", "docker.io/curlimages/curl"),
        ("busybox", "docker.io/library/busybox"),
        ("docker.io/busybox:1.36", "docker.io/library/busybox"),
        ("localhost:5000/team/app:2", "localhost:5000/team/app"),
        ("registry.istio.io/release/examples-bookinfo-details-v1:1.20.3",
         "registry.istio.io/release/examples-bookinfo-details-v1"),
        ("docker.io/mccutchen/go-httpbin@sha256:" + "a" * 64, "docker.io/mccutchen/go-httpbin"),
        ("Docker.io/Kong/HTTPBIN", "docker.io/kong/httpbin"),
    ],
)  # fmt: skip
def test_repository_follows_dockers_reference_rules(image: str, expected: str) -> None:
    assert repository(image) == expected


SHIPPED = [
    ("docker.io/istio/examples-bookinfo-productpage-v1:1.18.0", "src/productpage/productpage.py"),
    ("docker.io/istio/examples-bookinfo-details-v1:1.18.0", "src/details/details.py"),
    ("docker.io/istio/examples-bookinfo-ratings-v1", "src/ratings/ratings.py"),
    ("docker.io/istio/examples-bookinfo-reviews-v1:1.18.0", "src/reviews/reviews.py"),
    ("registry.istio.io/release/examples-bookinfo-reviews-v3:1.20.3", "src/reviews/reviews.py"),
    ("docker.io/kong/httpbin", "httpbin.py"),
    ("docker.io/mccutchen/go-httpbin:v2.15.0", "httpbin.py"),
    ("curlimages/curl:8.16.0", "curl"),
    ("docker.io/istio/examples-helloworld-v2", "helloworld.py"),
    ("docker.io/istio/tcp-echo-server:1.3", "tcp_echo.py"),
    ("registry.istio.io/testing/ext-authz:latest", "ext_authz.py"),
    ("gcr.io/istio-testing/ext-authz:1.22", "ext_authz.py"),
    ("docker.io/hiroakis/tornado-websocket-example", "app.py"),
    ("registry.istio.io/release/health:example", "health.py"),
    ("registry.istio.io/testing/jwt-server:0.8", "jwt_server.py"),
]


@pytest.mark.parametrize(("image", "program"), SHIPPED)
def test_shipped_map_covers_istios_sample_images(image: str, program: str) -> None:
    entry = load_image_map().resolve(image)
    assert entry is not None, image
    assert entry.command[-1] == program
    if program != "curl":  # every sample program exists where the entry says it runs
        assert (Path(entry.workdir) / program).is_file(), entry
    assert Path(entry.workdir).is_relative_to(SAMPLES_DIR)


def test_reviews_versions_differ_by_the_images_environment() -> None:
    images = load_image_map()
    colors = {
        v: dict(e.env).get("STAR_COLOR")
        for v in ("v1", "v2", "v3")
        if (e := images.resolve(f"docker.io/istio/examples-bookinfo-reviews-{v}:1.20.3"))
    }
    assert colors == {"v1": None, "v2": "black", "v3": "red"}


@pytest.mark.parametrize("image", ["registry.k8s.io/busybox", "busybox:1.28", "alpine"])
def test_images_without_entrypoint_run_their_args(image: str) -> None:
    """busybox's CMD is `sh`; Istio's liveness-command.yaml gives args only, which then run."""
    entry = load_image_map().resolve(image)
    assert entry is not None and entry.command == () and entry.args == ("sh",)
    assert entry.argv([], ["/bin/sh", "-c", "sleep 3600"]) == ("/bin/sh", "-c", "sleep 3600")
    assert ImageEntry.from_json(entry.to_json()) == entry


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("docker.io/redis:alpine", "global rate limit service"),
        ("docker.io/envoyproxy/ratelimit:30a4ce1a", "global rate limit service"),
        ("registry.istio.io/release/examples-bookinfo-mysqldb:1.20.3", "MySQL"),
        ("registry.istio.io/release/examples-bookinfo-details-v2:1.20.3", "googleapis"),
        ("registry.istio.io/testing/app:latest", "echo app"),
    ],
)
def test_images_that_cannot_run_here_say_why(image: str, reason: str) -> None:
    entry = load_image_map().resolve(image)
    assert entry is not None and reason in entry.unavailable and entry.command == ()


def test_unknown_image_is_not_resolved() -> None:
    assert load_image_map().resolve("docker.io/library/nginx:1.27") is None


def test_user_map_comes_first_and_is_relative_to_its_folder(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    user = tmp_path / "map.yaml"
    user.write_text(
        "images:\n"
        "- names: [curlimages/curl, example.com/team/web]\n"
        "  command: [python, web.py]\n"
        "  env: {MODE: local}\n"
        "  workingDir: apps\n"
    )
    images = load_image_map(str(user))
    assert images.files == (str(user), str(Path(images.files[1])))
    for image in ("docker.io/curlimages/curl:8", "example.com/team/web:1.0"):
        entry = images.resolve(image)
        assert entry is not None
        assert (entry.command, entry.workdir, entry.env) == (
            ("python", "web.py"), str(tmp_path / "apps"), (("MODE", "local"),)
        )  # fmt: skip
        assert entry.origin == f"{user}:2"
    assert images.resolve("docker.io/kong/httpbin") is not None  # the shipped entries remain


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("images:\n- names: [a/b]\n  command: python\n", 2, "command must be a non-empty list"),
        ("images:\n- names: [a/b]\n  command: [x]\n- names: []\n  command: [y]\n", 4, "names"),
        ("images:\n- names: [a/b]\n  command: [x]\n  image: c\n", 2, "unknown field 'image'"),
        ("images: {a: b}\n", 1, "needs a list `images`"),
        ("images:\n- names: [a/b]\n  unavailable: no\n  command: [x]\n", 2, "with only `names`"),
        ("images:\n- names: [a/b]\n  args: sh\n", 2, "args must be a list of strings"),
        ("images:\n- names: [a/b]\n  command: [x\n", 3, ""),
    ],
)
def test_bad_user_map_names_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    user = tmp_path / "bad.yaml"
    user.write_text(text)
    with pytest.raises(ImageMapError) as caught:
        load_image_map(str(user))
    assert f"{user}:" in str(caught.value)
    assert message in str(caught.value)
    if message:
        assert f"{user}:{line}:" in str(caught.value)


def test_missing_user_map_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImageMapError, match="cannot read"):
        load_image_map(str(tmp_path / "nope.yaml"))


def test_kubernetes_command_and_args_rules() -> None:
    entry = ImageEntry(("python", "app.py"), ("--serve",), replacements=(("pipenv", ("x",)),))
    assert entry.argv([], []) == ("python", "app.py", "--serve")
    assert entry.argv([], ["--other"]) == ("python", "app.py", "--other")  # args replace CMD
    assert entry.argv(["/bin/sleep", "infinity"], []) == ("/bin/sleep", "infinity")
    assert entry.argv(["sh", "-c"], ["echo hi"]) == ("sh", "-c", "echo hi")
    assert entry.argv(["pipenv", "run", "gunicorn"], ["-b", ":80"]) == ("x",)
    assert entry.argv(["/usr/bin/pipenv", "run"], []) == ("x",)


def test_entry_round_trips_through_the_stored_annotation() -> None:
    entry = load_image_map().resolve("docker.io/kong/httpbin")
    assert entry is not None
    assert ImageEntry.from_json(entry.to_json()) == entry
    assert ImageEntry.from_json({"command": "python"}) is None
    assert ImageEntry.from_json("nope") is None


def test_up_refuses_a_bad_image_map_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "map.yaml"
    bad.write_text("images:\n- names: [a/b]\n")
    env = {k: v for k, v in os.environ.items() if k != "PILOTFISH_IMAGE_MAP"}
    env["PILOTFISH_HOME"] = str(tmp_path / "home")
    run = subprocess.run(
        [sys.executable, "-m", "pilotfish", "up", "--image-map", str(bad)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert run.returncode == 1
    assert f"error: {bad}:2: images[0].command must be a non-empty list" in run.stderr
    assert not (tmp_path / "home" / "run").exists()
