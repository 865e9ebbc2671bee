"""What every front end and worker shares in one process, and how it is opened. A leaf: the
conversation core depends on it without importing the composition root (``studio.app``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from db.session import Database
from db.storage import Storage, storage_from_settings
from config.settings import Settings
from styles import Catalogue, load_catalogue

log = logging.getLogger("studio.app")


@dataclass
class Services:
    """What every front end and worker shares in one process."""

    settings: Settings
    database: Database
    storage: Storage
    catalogue: Catalogue

    async def close(self) -> None:
        await self.database.dispose()


async def open_services(settings: Settings) -> Services:
    catalogue = load_catalogue(settings.styles_dirs)  # a broken style pack stops start-up here
    storage = storage_from_settings(settings)  # so does a storage setting that is missing
    await storage.check()  # and storage that can't be written (StorageUnavailable)
    database = Database.from_settings(settings)
    await database.migrate()
    log.info(
        "ready: database %s, storage %s, %d styles, engine %s (%s)",
        database.engine.url.render_as_string(hide_password=True), settings.storage_backend, len(catalogue),
        settings.engine_backend, settings.base_model,
    )
    return Services(settings, database, storage, catalogue)
