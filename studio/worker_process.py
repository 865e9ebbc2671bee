"""The local engine worker as a child process of the main job: the bot process itself never
imports torch, and a crashed worker never takes the chat front ends down with it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)


WORKER_COMMAND = (sys.executable, "-m", "studio.cli", "worker")


class WorkerProcess:
    def __init__(self, *, log_file: Path | None = None, command: tuple[str, ...] = WORKER_COMMAND,
                 env: dict[str, str] | None = None) -> None:
        self.log_file = log_file
        self.command = command
        #: set in the child's environment over this process's (e.g. its own STUDIO_METRICS_PORT)
        self.env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self._log_handle = None
        self.starts = 0
        #: where this run's lines begin in ``log_file`` (it is appended to across runs)
        self.log_offset = 0

    def start(self) -> None:
        """Start the worker (again, after it died: the new one reaps the dead one's expired leases,
        so its job is retried or failed and refunded)."""
        output = None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            if self._log_handle is None:
                self._log_handle = self.log_file.open("ab")
            self._log_handle.flush()
            self.log_offset = self._log_handle.tell()
            output = self._log_handle
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            list(self.command), stdout=output, stderr=output, env=dict(os.environ) | self.env,
        )
        self.starts += 1
        log.info("engine worker started (pid %s)%s", self.process.pid,
                 f", logging to {self.log_file}" if self.log_file else "")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM lets a running job finish or give its lease back; SIGKILL after the timeout."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("engine worker did not stop in %.0f s; killing it", timeout)
                self.process.kill()
                self.process.wait()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
