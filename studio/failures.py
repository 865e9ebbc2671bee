"""An operator command that fails because of the set-up, not a bug, ends with one line saying what to
do and an exit code, never a traceback: a database that can't be opened, a folder that can't be
written, a model name that does not exist, weights that can't be downloaded. Anything else stays an
uncaught exception (logged with its traceback, redacted)."""

from __future__ import annotations

import errno

from db.session import DatabaseUnavailable
from db.storage import StorageUnavailable
from engine.errors import FetchFailed, UnknownModel, WeightsMissing
from telemetry.server import PortUnavailable

USAGE_EXIT = 2  # the command was asked for something that does not exist
FAILED_EXIT = 1  # the command could not do it here, as things are set up
SETUP_ERRNOS = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOTDIR,
                          errno.EISDIR, errno.EEXIST, errno.EDQUOT})


def explain(error: BaseException) -> tuple[str, int] | None:
    """The one line and exit code for a set-up failure; None for anything else."""
    if isinstance(error, DatabaseUnavailable):
        if error.where.startswith("sqlite"):
            advice = ("set STUDIO_DATA_DIR to a folder this user can write, or STUDIO_DATABASE_URL to another "
                      "database")
        else:
            advice = "check STUDIO_DATABASE_URL and that the database server is up and reachable from here"
        return f"Database error: {error}; {advice}", FAILED_EXIT
    if isinstance(error, StorageUnavailable):
        if "S3 bucket" in str(error):
            advice = "check STUDIO_S3_BUCKET, STUDIO_S3_ENDPOINT_URL, STUDIO_S3_REGION and the S3 keys"
        else:
            advice = "set STUDIO_STORAGE_DIR (or STUDIO_DATA_DIR) to a folder this user can write"
        return f"Storage error: {error}; {advice}", FAILED_EXIT
    if isinstance(error, PortUnavailable):
        return (f"Metrics error: {error}; set STUDIO_METRICS_PORT (the worker child of `studio run`: "
                "STUDIO_WORKER_METRICS_PORT) to a free port, or 0 for none"), FAILED_EXIT
    if isinstance(error, UnknownModel):
        return f"Error: {error} (engine/models.toml; `studio models list`)", USAGE_EXIT
    if isinstance(error, (FetchFailed, WeightsMissing)):
        return f"Error: {error}", FAILED_EXIT
    if isinstance(error, OSError) and error.filename is not None and error.errno in SETUP_ERRNOS:
        # a folder or file of the set-up: missing, not writable, not a folder, a full disk
        return f"Error: {error.strerror or error}: {error.filename}", FAILED_EXIT
    return None  # any other OSError (a socket, a bug's missing file…) keeps its traceback
