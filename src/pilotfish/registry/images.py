"""The image map: which local command stands for a container image, since no image is pulled here.

Owns `ImageMap` (read from `images.yaml`, shipped beside this module, with Istio's sample images
pointing at pilotfish's Python samples, and from a user file named by `$PILOTFISH_IMAGE_MAP` or
`pilotfish up --image-map FILE`, whose entries come first), `repository` (Docker's reference
rules: `curlimages/curl:8.16.0` is `docker.io/curlimages/curl`; tags and digests are ignored)
and `ImageEntry`, what an image runs: `command` (the image's ENTRYPOINT), `args` (its CMD),
`env` (its ENV), `workingDir`, and `containerCommands` (a program named by a container's
`command` that only exists inside the image, e.g. `pipenv`, with the local command that replaces
that whole command line). A relative `workingDir` is relative to the map file's folder;
in the shipped map, to pilotfish's `samples/` folder. Kubernetes' rules then apply: a
container's `command` replaces the image's command and args, its `args` replace the args. An
image with no ENTRYPOINT (busybox, alpine) has `args` only. An entry with `unavailable` (and no
command) names images known not to run here, with the reason an apply naming them is refused.

Errors (`ImageMapError`) name the map file and line. Must not import the agent or the CLI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilotfish.config.yaml_text import RawDocument, parse_yaml

IMAGE_MAP_ENV = "PILOTFISH_IMAGE_MAP"
SHIPPED_MAP = Path(__file__).with_name("images.yaml")
SAMPLES_DIR = Path(__file__).resolve().parents[3] / "samples"  # the source tree's samples/
_ENTRY_FIELDS = frozenset(
    {"names", "command", "args", "env", "workingDir", "containerCommands", "unavailable"}
)


class ImageMapError(Exception):
    """An image map file that cannot be read or is malformed (the message names file:line)."""


@dataclass(frozen=True)
class ImageEntry:
    command: tuple[str, ...]
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    workdir: str = "."  # absolute
    origin: str = ""  # file:line of the entry
    replacements: tuple[tuple[str, tuple[str, ...]], ...] = ()  # `containerCommands`
    unavailable: str = ""  # why this image cannot run here (then nothing else is set)

    def argv(self, command: list[str], args: list[str]) -> tuple[str, ...]:
        """What runs for a container with this image, `command` and `args` (Kubernetes' rules;
        a `command` whose program `containerCommands` names is replaced whole)."""
        if command:
            program = os.path.basename(command[0])
            for name, local in self.replacements:
                if name in (command[0], program):
                    return local
            return (*command, *args)
        return (*self.command, *(args or self.args))

    def to_json(self) -> dict[str, Any]:
        return {
            "command": list(self.command),
            "args": list(self.args),
            "env": dict(self.env),
            "workingDir": self.workdir,
            "from": self.origin,
            "containerCommands": {k: list(v) for k, v in self.replacements},
        }

    @classmethod
    def from_json(cls, data: Any) -> ImageEntry | None:
        """What `to_json` wrote (kept on stored documents); None when it is not that shape."""
        if not isinstance(data, dict):
            return None
        command, args, env = data.get("command"), data.get("args", []), data.get("env", {})
        replacements = data.get("containerCommands", {})
        if not _strings(command) or not (command or args) or not _strings(args):
            return None
        if not isinstance(env, dict):
            return None
        if not isinstance(replacements, dict) or not all(
            _strings(v) for v in replacements.values()
        ):
            return None
        return cls(
            tuple(command or ()),
            tuple(args),
            tuple((str(k), str(v)) for k, v in env.items()),
            str(data.get("workingDir") or "."),
            str(data.get("from") or ""),
            tuple((str(k), tuple(v)) for k, v in sorted(replacements.items())),
        )


@dataclass(frozen=True)
class ImageMap:
    entries: dict[str, ImageEntry] = field(default_factory=dict)  # repository -> entry
    files: tuple[str, ...] = ()  # the map files read, user file first

    def resolve(self, image: str) -> ImageEntry | None:
        return self.entries.get(repository(image))


def repository(image: str) -> str:
    """An image reference without tag or digest, with Docker's default registry spelled out."""
    name = image.strip().split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    parts = name.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = ["docker.io", *parts]
    if parts[0] == "index.docker.io":
        parts[0] = "docker.io"
    if parts[0] == "docker.io" and len(parts) == 2:
        parts.insert(1, "library")
    return "/".join(parts).lower()


def load_image_map(user_file: str | None = None) -> ImageMap:
    """The shipped map, with `user_file`'s entries (if given) taking precedence."""
    entries = _read(SHIPPED_MAP, SAMPLES_DIR)
    files = [str(SHIPPED_MAP)]
    if user_file:
        path = Path(user_file).expanduser().resolve()
        entries.update(_read(path, path.parent))
        files.insert(0, str(path))
    return ImageMap(entries, tuple(files))


def _read(path: Path, base: Path) -> dict[str, ImageEntry]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ImageMapError(f"image map {path}: cannot read: {exc.strerror or exc}") from exc
    docs, problems = parse_yaml(text, str(path))
    if problems:
        raise ImageMapError(f"image map {problems[0]}")
    found: dict[str, ImageEntry] = {}
    for doc in docs:
        images = doc.data.get("images")
        if not isinstance(images, list):
            raise ImageMapError(f"{path}:{doc.source.line}: an image map needs a list `images`")
        for index, raw in enumerate(images):
            for name, entry in _entry(doc, f"images[{index}]", raw, base):
                found.setdefault(name, entry)
    return found


def _entry(doc: RawDocument, at: str, raw: Any, base: Path) -> list[tuple[str, ImageEntry]]:
    where = f"{doc.source.file}:{doc.line_of(at) or doc.source.line}"
    if not isinstance(raw, dict):
        raise ImageMapError(f"{where}: {at} must be a map")
    unknown = sorted(set(raw) - _ENTRY_FIELDS)
    if unknown:
        raise ImageMapError(f"{where}: {at}: unknown field {unknown[0]!r}")
    names, command, args = raw.get("names"), raw.get("command", []), raw.get("args", [])
    env, workdir = raw.get("env") or {}, raw.get("workingDir") or "."
    if not _strings(names) or not names:
        raise ImageMapError(f"{where}: {at}.names must be a non-empty list of image names")
    unavailable = raw.get("unavailable")
    if unavailable is not None:
        alone = set(raw) <= {"names", "unavailable"}
        if not isinstance(unavailable, str) or not unavailable.strip() or not alone:
            raise ImageMapError(f"{where}: {at}.unavailable must be a reason, with only `names`")
        refused = ImageEntry((), origin=where, unavailable=unavailable)
        return [(repository(n), refused) for n in names]
    if not _strings(args):
        raise ImageMapError(f"{where}: {at}.args must be a list of strings")
    if not _strings(command) or not (command or args):
        raise ImageMapError(
            f"{where}: {at}.command must be a non-empty list of strings (or left out, with"
            " `args`, for an image with no ENTRYPOINT)"
        )
    if not isinstance(env, dict) or not isinstance(workdir, str):
        raise ImageMapError(f"{where}: {at}: env must be a map, workingDir a string")
    replacements = raw.get("containerCommands") or {}
    if not isinstance(replacements, dict) or not all(
        _strings(v) and v for v in replacements.values()
    ):
        raise ImageMapError(f"{where}: {at}.containerCommands must map programs to commands")
    entry = ImageEntry(
        tuple(command),
        tuple(args),
        tuple((str(k), str(v)) for k, v in env.items()),
        os.path.normpath(base / workdir),
        where,
        tuple((str(k), tuple(v)) for k, v in sorted(replacements.items())),
    )
    return [(repository(n), entry) for n in names]


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
