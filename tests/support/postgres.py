"""A throwaway PostgreSQL server on 127.0.0.1 for the test session.

initdb/pg_ctl refuse to run as root (CI runs as root), so the server runs as the `postgres`
user through runuser when needed. The port is picked free and only bound later by the server,
so another process can take it in between: the start is retried on a fresh port when it does.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

START_ATTEMPTS = 3
_PORT_TAKEN = ("Address already in use", "could not create any TCP/IP sockets")


def find_bin_dir() -> Path | None:
    if path := os.environ.get("STUDIO_TEST_PG_BIN"):
        return Path(path)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        env = dict(os.environ, LC_ALL="C.UTF-8")
        subprocess.run([*prefix, *args], check=True, env=env, capture_output=True, timeout=120)

    @classmethod
    def start(cls, bin_dir: Path) -> PostgresServer:
        root = Path(tempfile.mkdtemp(prefix="studio-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        server = cls(bin_dir, root, 0)
        data = root / "data"
        server._run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        for attempt in range(1, START_ATTEMPTS + 1):
            server.port = _free_port()
            log = root / f"server-{attempt}.log"
            options = (f"-p {server.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} "
                       "-c fsync=off -c max_connections=200")
            try:
                server._run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
                return server
            except subprocess.CalledProcessError as error:
                text = log.read_text(errors="replace") if log.exists() else ""
                if attempt < START_ATTEMPTS and any(sign in text for sign in _PORT_TAKEN):
                    continue  # someone took the port between _free_port() and the server's bind
                shutil.rmtree(root, ignore_errors=True)
                output = (error.stdout or b"").decode(errors="replace") + (error.stderr or b"").decode(errors="replace")
                raise RuntimeError(f"PostgreSQL did not start on port {server.port} (attempt {attempt} of "
                                   f"{START_ATTEMPTS}):\n{output}\n{text}") from error
        raise AssertionError("unreachable")

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
