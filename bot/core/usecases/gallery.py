"""/gallery: a private link to the user's gallery page (web/: the styles and their own portraits),
where the install serves one (STUDIO_WEB_URL). The core mints no link itself: the composition root
hands it the gallery's link maker (``Studio.connect_gallery``)."""

from __future__ import annotations

from bot.core.context import Context, say
from bot.core.replies import Button, Reply, UserRef
from i18n import Msg

GALLERY_OFF = Msg("There's no gallery page here: your portraits arrive in this chat.")
GALLERY_LINK = Msg("🖼 Your gallery: every portrait you've had painted, full size and as one ZIP, and the styles to "
                   "paint next. The link is yours alone and works for {hours} hours — don't share it.")
BUTTON_GALLERY = Msg("Open my gallery")
MINI_APP_PATH = "/app"  # the gallery's Mini App door (web/app.py): Telegram's initData in, the user's gallery out


async def gallery(ctx: Context, user: UserRef, _args: list[str]) -> list[Reply]:
    if ctx.gallery_link is None:
        return say(GALLERY_OFF, private=True)
    async with ctx.database.transaction() as session:  # a first visit makes the account
        await ctx.account(session, user)
    link = await ctx.gallery_link(user)
    if link is None:
        return say(GALLERY_OFF, private=True)
    hours = ctx.settings.web_link_hours
    # in Telegram the button opens the gallery as a Mini App (who it is for comes from Telegram's
    # initData); elsewhere, and in a browser, the private link
    mini_app = ctx.settings.web_url.rstrip("/") + MINI_APP_PATH if ctx.settings.web_url else ""
    return say(GALLERY_LINK.format(hours=f"{hours:g}"), (Button(BUTTON_GALLERY, "", url=link, mini_app=mini_app),),
               private=True)
