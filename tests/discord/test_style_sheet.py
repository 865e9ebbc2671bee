"""On Discord the category's sample sheet and its buttons are one message."""

from __future__ import annotations

from tests.discord.helpers import slash
from tests.support.discord_server import FakeDiscord
from tests.support.style_samples import styles_folder_with_samples

ALEX = 731


async def test_a_category_with_samples_is_one_message_with_the_sheet_and_the_buttons(bot_factory, discord: FakeDiscord,
                                                                                     tmp_path) -> None:
    async with bot_factory(styles_dirs=[styles_folder_with_samples(tmp_path)]):
        gym = await slash(discord, ALEX, "styles", guild=True, category="Gym")
        await discord.wait_until(lambda: any(m.content for m in discord.answers_to(gym)), what="an answer")
        [picker] = [m for m in discord.answers_to(gym) if m.content]
        assert picker.content == "💪 Gym — pick one:" and "🔥 Visible Abs" in picker.button_labels
        assert [f["filename"] for f in picker.files] == ["styles-gym.jpg"]


async def test_a_sheet_discord_refuses_leaves_the_picker_as_it_was(bot_factory, discord: FakeDiscord, tmp_path) -> None:
    async with bot_factory(styles_dirs=[styles_folder_with_samples(tmp_path)]):
        discord.fail_next("@original", status=400)  # the answer carrying the sheet
        gym = await slash(discord, ALEX, "styles", guild=True, category="Gym")
        await discord.wait_until(lambda: any(m.content for m in discord.answers_to(gym)), what="an answer")
        [picker] = [m for m in discord.answers_to(gym) if m.content]
        assert picker.content == "💪 Gym — pick one:" and "🔥 Visible Abs" in picker.button_labels
        assert picker.files == [] and "went wrong" not in picker.content
