"""What an admin may do in the chat: /grant credits (or take them), /refund a payment."""

from __future__ import annotations

from bot.core import texts
from bot.core.context import Context, say
from bot.core.replies import Reply, UserRef
from bot.core.shop import PlatformRefused
from bot.core.shop import refund as refund_payment
from db import credits, payments
from db.users import find_user, get_or_create_user, is_account_id
from config.settings import Platform


async def grant(ctx: Context, user: UserRef, args: list[str]) -> list[Reply]:
    if not ctx.settings.is_admin(user.platform, user.user_id):
        return say(texts.NOT_ADMIN, private=True)
    if len(args) < 2 or not args[1].lstrip("-").isdigit():
        return say(texts.GRANT_USAGE, private=True)
    platform, _, target = args[0].rpartition(":")
    platform = platform or user.platform
    if platform not in set(Platform) or not is_account_id(platform, target):
        return say(texts.GRANT_USAGE, private=True)  # a typo would credit an account nobody has
    amount = int(args[1])
    try:
        async with ctx.database.transaction() as session:
            if amount < 0 and await find_user(session, platform, target) is None:  # not made to be taken from
                return say(texts.GRANT_NO_ACCOUNT.format(platform=platform, user_id=target), private=True)
            account, _ = await get_or_create_user(session, platform, target, free_credits=ctx.settings.free_credits,
                                                  allowance_key=ctx.allowance_key)
            balance = await credits.grant(session, account.id, amount, reason="admin_grant",
                                          note=f"by {user.platform}:{user.user_id}")
    except credits.InsufficientCredits as short:  # nothing written: the transaction rolled back
        return say(texts.GRANT_MORE_THAN_BALANCE.format(
            platform=platform, user_id=target, balance=short.balance, taken=short.needed), private=True)
    return say(texts.GRANTED.format(amount=amount, platform=platform, user_id=target, balance=balance), private=True)


async def refund(ctx: Context, user: UserRef, args: list[str]) -> list[Reply]:
    if not ctx.settings.is_admin(user.platform, user.user_id):
        return say(texts.NOT_ADMIN, private=True)
    allow_negative = "--allow-negative" in args
    charges = [a for a in args if not a.startswith("--")]
    give_back = ctx.seam(user.platform).refund
    if len(charges) != 1 or give_back is None:
        return say(texts.REFUND_USAGE, private=True)
    try:
        done = await refund_payment(ctx.database, user.platform, charges[0], give_back, allow_negative=allow_negative)
    except payments.RefundRefused as refused:
        return say(texts.REFUND_REFUSED.format(reason=refused), private=True)
    except PlatformRefused as error:
        return say(texts.REFUND_FAILED.format(error=error), private=True)
    async with ctx.database.read() as session:
        payment = await payments.find(session, user.platform, charges[0])
    buyer = payment.platform_user_id if payment else "?"
    shortfall = texts.REFUND_SHORTFALL.format(shortfall=texts.CREDIT_COUNT(done.shortfall)) if done.shortfall else ""
    return say(texts.REFUND_DONE.format(
        charge=charges[0], platform=user.platform, user_id=buyer, taken=texts.CREDIT_COUNT(done.taken_back),
        shortfall=shortfall), private=True)
