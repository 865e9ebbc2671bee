"""What the Discord user is told when the bot won't do what they asked: a file over the size
limit, commands past the rate limit, a style name it doesn't know."""

from __future__ import annotations

from tests.discord.helpers import agree, slash
from tests.support.discord_server import FakeDiscord

ALEX = 701


async def test_a_file_over_the_limit_in_mb_is_refused_before_download_naming_the_limit(bot_factory,
                                                                                      discord: FakeDiscord) -> None:
    async with bot_factory():
        await agree(discord, ALEX)
        size = 25_100_000  # over 25 MB (the photo check's limit), under 25 MiB
        big = discord.add_attachment(b"\xff\xd8\xff\xe0" + bytes(size - 4), "IMG_9999.jpg")
        await slash(discord, ALEX, "upload", photo=big)
        refusal = await discord.wait_for_text("IMG_9999.jpg")
        assert refusal.content == ("IMG_9999.jpg: This file is larger than the 25 MB I can download. "
                                   "Please send a smaller copy of the photo.")


async def test_every_command_past_the_rate_limit_is_answered_and_the_limit_holds(bot_factory,
                                                                                discord: FakeDiscord) -> None:
    async with bot_factory(commands_per_minute=3):
        for _ in range(3):
            command = await slash(discord, ALEX, "credits", guild=True)
            await discord.wait_until(lambda c=command: any("You have" in m.content for m in discord.answers_to(c)),
                                     what="the balance")
        answers = []
        for _ in range(3):
            command = await slash(discord, ALEX, "status", guild=True)
            await discord.wait_until(lambda c=command: any(m.content for m in discord.answers_to(c)), what="an answer")
            [answer] = [m for m in discord.answers_to(command) if m.content]
            assert answer.ephemeral
            answers.append(answer.content)
        assert answers[0].startswith("Whoa, that's fast! Please wait ")
        assert all(a.startswith("Still too fast — try again in ") and a.endswith(" s.") for a in answers[1:])
        assert not [m for m in discord.history if "Your status" in m.content]  # the limit still holds
        assert discord.dangling() == [] and discord.deleted == []  # no "thinking…" left, none vanished


async def test_generate_with_a_typed_name_finds_the_category_or_says_the_name_is_unknown(bot_factory,
                                                                                        discord: FakeDiscord) -> None:
    async with bot_factory():
        gym = await slash(discord, ALEX, "generate", guild=True, style="gym", batches=3)
        await discord.wait_until(lambda: any(m.content for m in discord.answers_to(gym)), what="an answer")
        [picker] = [m for m in discord.answers_to(gym) if m.content]
        assert picker.content == "💪 Gym — pick one:" and picker.ephemeral
        assert "🔥 Visible Abs" in picker.button_labels and "« Back" in picker.button_labels

        odd = await slash(discord, ALEX, "generate", guild=True, style="<script>alert(1)</script>")
        await discord.wait_until(lambda: any(m.content for m in discord.answers_to(odd)), what="an answer")
        [unknown] = [m for m in discord.answers_to(odd) if m.content]
        assert unknown.content.startswith("I don't know a style called “<script>alert(1)</script>”.")
        assert "any more" not in unknown.content and unknown.ephemeral
        assert "💪 Gym" in unknown.button_labels  # the categories to pick from

        typed = await slash(discord, ALEX, "generate", guild=True, style="visible abs")  # a title, typed
        await discord.wait_for_text("First I need to learn your face")
        assert any("First I need" in m.content for m in discord.answers_to(typed))


async def test_styles_with_a_typed_category_finds_it_or_says_the_name_is_unknown(bot_factory,
                                                                                 discord: FakeDiscord) -> None:
    """/styles category: is free text where the autocomplete is not used: a category's title or id,
    typed in any case, opens it; another name is named as unknown (not "any more"), with the picker."""
    async with bot_factory():
        for typed in ("gym", "  GYM "):
            gym = await slash(discord, ALEX, "styles", guild=True, category=typed)
            await discord.wait_until(lambda g=gym: any(m.content for m in discord.answers_to(g)), what="an answer")
            [picker] = [m for m in discord.answers_to(gym) if m.content]
            assert picker.content == "💪 Gym — pick one:"
            assert "🔥 Visible Abs" in picker.button_labels and "« Back" in picker.button_labels

        odd = await slash(discord, ALEX, "styles", guild=True, category="Anime")
        await discord.wait_until(lambda: any(m.content for m in discord.answers_to(odd)), what="an answer")
        [unknown] = [m for m in discord.answers_to(odd) if m.content]
        assert unknown.content.startswith("I don't have a category called “Anime”.") and unknown.ephemeral
        assert "💪 Gym" in unknown.button_labels  # the categories to pick from
