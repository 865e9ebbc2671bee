"""Start-up of the main job: database, storage, style catalogue, then the configured front ends."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from db.session import Database
from db.storage import Storage, storage_from_settings
from studio.settings import Settings
from styles import Catalogue, load_catalogue

log = logging.getLogger(__name__)


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
    database = Database.from_settings(settings)
    await database.migrate()
    storage = storage_from_settings(settings)
    log.info(
        "ready: database %s, storage %s, %d styles, engine %s (%s)",
        database.engine.url.render_as_string(hide_password=True), settings.storage_backend, len(catalogue),
        settings.engine_backend, settings.base_model,
    )
    return Services(settings, database, storage, catalogue)


def configured_front_ends(settings: Settings) -> list[str]:
    return [name for name, token in (("telegram", settings.telegram_token), ("discord", settings.discord_token)) if token]


async def run_main(settings: Settings) -> int:
    services = await open_services(settings)
    try:
        front_ends = configured_front_ends(settings)
        if not front_ends:
            log.warning(
                "no chat front end configured: set STUDIO_TELEGRAM_TOKEN (from @BotFather) and/or "
                "STUDIO_DISCORD_TOKEN in the environment or .env to start the bots"
            )
        for name in front_ends:
            log.error("the %s front end is not part of this build yet", name)
        return 0 if not front_ends else 1
    finally:
        await services.close()
