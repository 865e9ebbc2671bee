"""The style picker shows a sheet of sample portraits above a category's buttons where the styles
folders have samples (``studio samples``), and stays as it was where they have none."""

from __future__ import annotations

from io import BytesIO

from PIL import Image

from tests.support.style_samples import COLOURS, styles_folder_with_samples

ALEX = 521


def tile_colour(sheet: Image.Image, index: int) -> tuple[int, ...]:
    from bot.core.style_sheet import GAP, LABEL_HEIGHT, TILE

    row, column = divmod(index, 2)  # four styles: two columns
    x = GAP + column * (TILE[0] + GAP) + TILE[0] // 2
    y = GAP + row * (TILE[1] + LABEL_HEIGHT + GAP) + TILE[1] // 2
    return sheet.getpixel((x, y))


async def test_a_category_shows_its_styles_samples_as_one_sheet_above_the_buttons(bot_factory, tmp_path) -> None:
    async with bot_factory(styles_dirs=[styles_folder_with_samples(tmp_path)]) as bot:
        telegram = bot.telegram
        await telegram.send_text(ALEX, "/styles")
        await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "Pick a style"), "Gym")
        picker = await telegram.wait_for_text(ALEX, "Gym — pick one")
        assert picker.method == "sendPhoto"  # one message: the sheet, the text as its caption, the buttons under it
        sheet = Image.open(BytesIO(picker.media[0]["data"])).convert("RGB")
        order = [label.split(" ", 1)[1] for label in picker.button_labels if "Back" not in label]
        ids = {"Visible Abs": "gym-abs", "Lifting Weights": "gym-lifting", "Workout in Action": "gym-workout"}
        for index, title in enumerate(order):  # each tile is its button's style, in the buttons' order
            colour = COLOURS.get(ids.get(title, ""))
            got = tile_colour(sheet, index)
            if colour is None:  # no sample: a blank tile, not another style's picture
                assert max(got) - min(got) < 10
            else:
                assert all(abs(a - b) < 24 for a, b in zip(got, colour, strict=True)), (title, got)

        await telegram.press(ALEX, picker, "Back")
        await telegram.press(ALEX, await telegram.wait_for(
            lambda m: "Pick a style" in m.text and m.message_id > picker.message_id, what="the picker again"), "Dating")
        dating = await telegram.wait_for_text(ALEX, "Dating — pick one")
        assert dating.method == "sendMessage"  # no samples there: no sheet
        await telegram.press(ALEX, picker, "Visible Abs")  # a button under the sheet works like any other
        await telegram.wait_for(lambda m: m.message_id > dating.message_id and m.chat_id == ALEX,
                                what="an answer to the pressed style")


async def test_without_samples_the_picker_is_text_and_buttons(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        await telegram.send_text(ALEX, "/styles")
        await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "Pick a style"), "Gym")
        await telegram.wait_for_text(ALEX, "Gym — pick one")
        assert not [m for m in telegram.sent_to(ALEX) if m.method in {"sendPhoto", "sendMediaGroup"}]


async def test_a_sheet_telegram_refuses_leaves_the_picker_as_it_was(bot_factory, tmp_path) -> None:
    async with bot_factory(styles_dirs=[styles_folder_with_samples(tmp_path)]) as bot:
        telegram = bot.telegram
        telegram.fail_once("sendPhoto", description="Bad Request: PHOTO_INVALID_DIMENSIONS")
        await telegram.send_text(ALEX, "/styles")
        await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "Pick a style"), "Gym")
        picker = await telegram.wait_for_text(ALEX, "Gym — pick one")
        assert picker.method == "sendMessage" and "🔥 Visible Abs" in picker.button_labels
        assert not [m for m in telegram.sent_to(ALEX) if "went wrong" in (m.text or "")]


async def test_styles_shows_one_sample_per_category_when_every_category_has_one(bot_factory, tmp_path) -> None:
    from styles import load_catalogue

    folder = styles_folder_with_samples(tmp_path)  # the gym styles only: no overview yet
    async with bot_factory(styles_dirs=[folder]) as bot:
        telegram = bot.telegram
        await telegram.send_text(ALEX, "/styles")
        partial = await telegram.wait_for_text(ALEX, "Pick a style")
        assert partial.method == "sendMessage"
        for style in load_catalogue():  # `studio samples` has painted them all
            Image.new("RGB", (64, 80), (90, 90, 90)).save(folder / "samples" / f"{style.id}.jpg")
        await telegram.send_text(ALEX, "/styles")
        overview = await telegram.wait_for(lambda m: "Pick a style" in (m.caption or "")
                                           and m.message_id > partial.message_id, what="the styles with a sheet")
        assert overview.method == "sendPhoto" and overview.media[0]["filename"] == "styles.jpg"
        assert "💪 Gym" in overview.button_labels
        await telegram.press(ALEX, overview, "Gym")
        gym = await telegram.wait_for_text(ALEX, "Gym — pick one")
        await telegram.press(ALEX, gym, "Back")  # back to the categories: no second overview sheet in the chat
        back = await telegram.wait_for(lambda m: "Pick a style" in (m.text or "") and m.message_id > gym.message_id,
                                       what="the categories again")
        assert back.method == "sendMessage"
