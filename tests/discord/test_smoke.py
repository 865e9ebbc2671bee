from __future__ import annotations

from tests.support.discord_server import FakeDiscord

ALEX = 501


async def test_smoke(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory() as bot:
        payload = discord.command_payload(ALEX, "credits")
        await discord.dispatch(payload)
        answer = await discord.wait_for_text("You have")
        print(answer, discord.callbacks, discord.commands.keys())
