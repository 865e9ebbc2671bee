"""The style picker: the categories (under a sheet of samples), one category's styles, and a category
named as typed."""

from __future__ import annotations

from dataclasses import replace

from bot.core import actions, texts
from bot.core.context import Context
from bot.core.replies import Button, Reply, UserRef


def folded(name: str) -> str:
    """A name as compared with what a user typed: lower case, letters and digits only."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def style_picker(ctx: Context, text: str) -> Reply:
    categories = ctx.catalogue.used_categories()
    buttons = [Button(f"{c.emoji} {c.title}".strip(), actions.category(c.id)) for c in categories]
    rows = tuple(tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3))
    return Reply(text, rows)


async def styles(ctx: Context, _user: UserRef, _args: list[str]) -> list[Reply]:
    return [await overview(ctx)]


async def overview(ctx: Context) -> Reply:
    """The categories, under a sheet of one sample per category where every one has a sample."""
    return replace(style_picker(ctx, texts.PICK_STYLE), illustration=await ctx.style_sheets.overview())


async def styles_button(ctx: Context, arg: str) -> list[Reply]:
    """"styles:back" from a category: the categories again, without their sheet."""
    return [await overview(ctx)] if arg != "back" else [style_picker(ctx, texts.PICK_STYLE)]


async def typed_category(ctx: Context, typed: str, unknown: str = texts.UNKNOWN_CATEGORY_NAMED) -> list[Reply]:
    """A category named by id or title (any case, spacing or punctuation), or the picker with
    the typed name said to be unknown (``unknown``, with ``{name}``)."""
    wanted = folded(typed)
    # by its title in any language the bot speaks: a name typed from a friend's English message is known too
    category_found = next((c for c in ctx.catalogue.used_categories()
                           if wanted in {folded(c.id), *map(folded, c.titles.values())}), None)
    if category_found is not None:
        return await category(ctx, category_found.id)
    name = " ".join(typed.split())[:40]
    return [replace(style_picker(ctx, unknown.format(name=name)), private=True)]


async def category(ctx: Context, category_id: str) -> list[Reply]:
    """The category's styles as buttons, under a sheet of their sample portraits where the styles
    folders have samples."""
    found = ctx.catalogue.categories.get(category_id)
    in_category = ctx.catalogue.in_category(category_id)
    if found is None or not in_category:
        return [style_picker(ctx, texts.UNKNOWN_STYLE)]
    buttons = [Button(f"{s.emoji} {s.title}".strip(), actions.style(s.id)) for s in in_category]
    rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
    rows.append((Button(texts.BUTTON_BACK, actions.STYLES_BACK),))
    sheet = await ctx.style_sheets.for_category(category_id)
    return [Reply(texts.PICK_IN_CATEGORY.format(emoji=found.emoji, title=found.title), tuple(rows),
                  illustration=sheet)]
