"""What every backend is, and what a resumable one is given for one claimed job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from db.queue import Lease
from engine.runtime.handlers.context import JobContext


class Backend(Protocol):
    name: str
    #: how many jobs one worker process runs at once through this backend
    slots: int

    async def execute(self, lease: Lease, context: JobContext) -> dict[str, Any]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class RemoteHandle:
    """What the worker gives a backend whose work outlives the worker (``resumable = True``) for
    one claimed job: where an earlier attempt's remote job is, and how to record a new one."""

    #: the remote job an earlier attempt of this job submitted to this backend, if any
    stored_id: str | None
    #: persist a just-submitted remote id (lease-guarded); False when the lease is lost
    record: Callable[[str], Awaitable[bool]]
    #: whether the user cancelled; a stop for any other reason (shutdown, lease lost) leaves the
    #: remote job running for the next attempt to resume
    user_cancelled: Callable[[], bool]


class ResumableBackend(Backend, Protocol):
    resumable: bool

    async def execute(self, lease: Lease, context: JobContext, remote: RemoteHandle | None = None
                      ) -> dict[str, Any]: ...

    async def cancel_remote(self, remote_id: str) -> None: ...
