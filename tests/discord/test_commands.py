"""The slash commands as Discord sees them after the sync on start-up."""

from __future__ import annotations

from tests.support.discord_server import GUILD_ID, FakeDiscord

EXPECTED = {"start", "help", "upload", "train", "styles", "generate", "status", "credits", "cancel", "delete", "privacy",
            "language", "grant"}


async def test_the_command_tree_is_synced_globally(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        commands = {c["name"]: c for c in discord.commands["global"]}
    assert set(commands) == EXPECTED
    for command in commands.values():
        assert command["type"] == 1 and 1 <= len(command["description"]) <= 100
        assert set(command["contexts"]) == {0, 1}  # servers and DMs with the bot
        assert all(option["description"] for option in command.get("options", []))
    upload = commands["upload"]["options"]
    assert [o["name"] for o in upload] == ["photo"] + [f"photo{n}" for n in range(2, 11)]
    assert all(o["type"] == 11 and not o.get("required") for o in upload)  # attachments, all optional: none opens the window
    generate = {o["name"]: o for o in commands["generate"]["options"]}
    assert generate["style"]["type"] == 3 and generate["style"]["required"] and generate["style"]["autocomplete"]
    assert generate["batches"]["type"] == 4 and (generate["batches"]["min_value"], generate["batches"]["max_value"]) == (1, 3)
    assert {o["name"]: o["autocomplete"] for o in commands["styles"]["options"]} == {"category": True}
    grant = {o["name"]: o for o in commands["grant"]["options"]}
    assert grant["credits"]["type"] == 4 and grant["credits"]["required"]
    assert grant["user"]["type"] == 6 and grant["account"]["type"] == 3
    assert str(commands["grant"]["default_member_permissions"]) == "8"  # hidden from non-admins in servers
    assert commands["credits"]["description"] == "Your balance"


async def test_a_development_guild_gets_the_commands_at_once(bot_factory, discord: FakeDiscord, caplog) -> None:
    caplog.set_level("INFO", logger="bot.discord.app")
    async with bot_factory(discord_guild_id=GUILD_ID):
        pass
    assert {c["name"] for c in discord.commands[str(GUILD_ID)]} == EXPECTED and "global" not in discord.commands
    line = next(r.getMessage() for r in caplog.records if "Invite it with" in r.getMessage())
    assert "https://discord.com/oauth2/authorize?client_id=900000000000000001" in line
    assert "scope=bot+applications.commands" in line and "permissions=" in line
    assert "intents: direct messages only" in line and "13 slash commands synced to guild" in line


async def test_gallery_is_a_command_where_the_gallery_is_served(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory(web_url="https://gallery.example", web_secret="a-secret-long-enough-for-the-gallery"):
        commands = {c["name"]: c for c in discord.commands["global"]}
    assert set(commands) == EXPECTED | {"gallery"} and not commands["gallery"].get("options")
