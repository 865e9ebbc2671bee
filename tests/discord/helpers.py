"""Small steps a Discord user takes, as raw interaction payloads through the fake gateway."""

from __future__ import annotations

from typing import Any

from tests.support.discord_server import FakeDiscord, Posted


async def slash(discord: FakeDiscord, user_id: int, name: str, *, guild: bool = False, **options: Any) -> dict[str, Any]:
    payload = discord.command_payload(user_id, name, guild=guild, **options)
    await discord.dispatch(payload)
    return payload


async def press(discord: FakeDiscord, user_id: int, message: Posted, label_part: str, *, guild: bool = False) -> dict[str, Any]:
    payload = discord.press_payload(user_id, message, label_part, guild=guild)
    await discord.dispatch(payload)
    return payload


def attach(discord: FakeDiscord, photos: list[bytes]) -> dict[str, Any]:
    """``photo``, ``photo2`` … ``photo10`` options of /upload."""
    names = ["photo"] + [f"photo{n}" for n in range(2, 11)]
    return {name: discord.add_attachment(data, f"selfie-{n}.jpg") for n, (name, data) in enumerate(zip(names, photos), 1)}
