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


async def agree(discord: FakeDiscord, user_id: int, *, guild: bool = False) -> None:
    """What a new user does before their first photo: /start, then confirm the photos are of them
    and they are 18 or older."""
    await slash(discord, user_id, "start", guild=guild)
    request = await discord.wait_for_text("Before your first photo")
    await press(discord, user_id, request, "I confirm", guild=guild)
    await discord.wait_for_text("Thank you!")
