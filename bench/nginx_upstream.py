"""nginx as the fast upstream of data-plane benchmarks: one single-process nginx (Debian's
`nginx-light`) with its own config in a temporary directory, serving a 1 KiB file at `/1k` on
127.0.0.1:$PORT, access log off, keep-alive connections kept for the whole run.

As a Workload's command (`["python", "<repo>/bench/nginx_upstream.py"]`) it takes the port the
agent gives the app (`PORT`) and becomes nginx (exec), so the agent supervises nginx itself; its
files go to `NGINX_DIR` when set (else a new temporary directory).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

NGINX = "/usr/sbin/nginx"
BODY = b"x" * 1023 + b"\n"  # 1 KiB
PATH = "/1k"


def available() -> bool:
    return Path(NGINX).exists() or shutil.which("nginx") is not None


def write_config(directory: Path, port: int) -> Path:
    """nginx.conf (and the file it serves) in `directory`; returns the config's path.
    One process (`master_process off`: nothing to orphan, no user switch), no access log."""
    www = directory / "www"
    www.mkdir(parents=True, exist_ok=True)
    (www / PATH.lstrip("/")).write_bytes(BODY)
    config = f"""
daemon off;
master_process off;
pid {directory}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {www};
        location / {{ }}
    }}
}}
"""
    path = directory / "nginx.conf"
    path.write_text(config)
    return path


def argv(config: Path) -> list[str]:
    binary = NGINX if Path(NGINX).exists() else (shutil.which("nginx") or "nginx")
    return [binary, "-p", str(config.parent), "-c", str(config), "-e", "stderr"]


def main() -> None:
    port = int(os.environ["PORT"])
    home = os.environ.get("NGINX_DIR")  # the bench's work directory, removed with it
    directory = Path(home) if home else Path(tempfile.mkdtemp(prefix="pilotfish-nginx-"))
    config = write_config(directory, port)
    command = argv(config)
    sys.stdout.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
