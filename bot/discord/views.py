"""Buttons under messages. Every button is a ``DynamicItem`` whose ``custom_id`` carries the
core's action (``studio:style:linkedin-headshot``, ``studio:more:42``), so a press on a message
sent before a restart still reaches the core: no view needs to be kept in memory."""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol, cast

import discord

from bot.core.replies import Button, Reply

log = logging.getLogger(__name__)

PREFIX = "studio:"
MAX_ROWS = 5
MAX_PER_ROW = 5
LABEL_LIMIT = 80


class ButtonHandler(Protocol):
    async def on_button(self, interaction: discord.Interaction[Any], action: str) -> None: ...


def _style(action: str) -> discord.ButtonStyle:
    verb = action.partition(":")[0]
    if action.startswith("delete:yes") or verb == "cancel":
        return discord.ButtonStyle.danger
    if verb in {"consent", "train", "class", "style", "more"}:
        return discord.ButtonStyle.primary
    return discord.ButtonStyle.secondary


class StudioButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=re.escape(PREFIX) + r"(?P<action>.+)"):
    def __init__(self, label: str, action: str, *, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(label=label[:LABEL_LIMIT] or "…", custom_id=PREFIX + action, style=_style(action)), row=row
        )
        self.action = action

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction[Any], item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> StudioButton:
        return cls(item.label or "", match["action"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:  # type: ignore[override]
        handler = cast(ButtonHandler, getattr(interaction.client, "front_end"))
        await handler.on_button(interaction, self.action)


def rows_of(reply: Reply) -> list[tuple[Button, ...]]:
    """The reply's button rows as Discord allows them (≤ 5 rows of ≤ 5): the core's layout when it
    fits, else every button in order, five to a row, so a long style list keeps its "« Back"."""
    rows = [row for row in reply.buttons if row]
    if len(rows) <= MAX_ROWS and all(len(row) <= MAX_PER_ROW for row in rows):
        return rows
    buttons = [button for row in rows for button in row]
    if len(buttons) > MAX_ROWS * MAX_PER_ROW:
        log.warning("%d buttons do not fit in one Discord message; the last %d are left out", len(buttons),
                    len(buttons) - MAX_ROWS * MAX_PER_ROW)
    return [tuple(buttons[i : i + MAX_PER_ROW]) for i in range(0, min(len(buttons), MAX_ROWS * MAX_PER_ROW), MAX_PER_ROW)]


def view_of(reply: Reply) -> discord.ui.View | None:
    if not reply.buttons:
        return None
    view = discord.ui.View(timeout=None)
    for row_number, row in enumerate(rows_of(reply)):
        for button in row:
            if button.sku_id is not None:  # Discord's store: the button shows the SKU and its price itself
                view.add_item(discord.ui.Button(style=discord.ButtonStyle.premium, sku_id=button.sku_id, row=row_number))
            elif button.url:
                view.add_item(discord.ui.Button(label=button.label[:LABEL_LIMIT], url=button.url, row=row_number))
            else:
                view.add_item(StudioButton(button.label, button.action, row=row_number))
    return view
