from __future__ import annotations

from bot.core.replies import UserRef
from bot.core.studio import Studio
from i18n import Audience, speaking
from tests.core.conftest import ALEX, actions_of, text_of


async def test_styles_shows_the_categories_and_a_category_its_styles(studio: Studio) -> None:
    categories = actions_of(await studio.command(ALEX, "styles"))
    assert categories and all(action.startswith("cat:") for action in categories)
    in_category = actions_of(await studio.action(ALEX, categories[0]))
    assert in_category[-1] == "styles:back" and all(a.startswith("style:") for a in in_category[:-1])


async def test_a_category_named_as_typed_in_any_case_is_found(studio: Studio) -> None:
    category = studio.catalogue.used_categories()[0]
    found = await studio.action(ALEX, f"browse:  {category.title.upper()} ")
    assert category.title in text_of(found)
    unknown = await studio.action(ALEX, "browse:no such thing")
    assert "no such thing" in text_of(unknown) and unknown[0].private


async def test_a_button_no_version_wrote_gets_the_picker(studio: Studio) -> None:
    reply = await studio.action(ALEX, "sneaky:payload")
    assert all(action.startswith("cat:") for action in actions_of(reply))


async def test_a_category_is_found_by_its_title_in_any_language_the_bot_speaks(studio: Studio) -> None:
    """A Russian chat typing the English name (from a friend's message), and an English chat typing
    the Russian one, both land in the category, shown in their own language."""
    ivan = UserRef("discord", "77", "77", "Иван", "ru")
    russian = text_of(await studio.action(ivan, "browse:Professional"))
    english = text_of(await studio.action(ALEX, "browse:бизнес"))
    with speaking(Audience("ru")):
        title_ru = studio.catalogue.categories["professional"].title
    assert title_ru == "Бизнес" and title_ru in russian
    assert studio.catalogue.categories["professional"].title in english
