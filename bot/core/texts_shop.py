"""Every sentence of buying credits (bot/core/shop.py, bot/core/usecases/buying.py) and of the
admins' commands. Part of the catalogue: ``bot.core.texts`` re-exports all of it."""

from __future__ import annotations

from i18n import Msg

# --- buying credits (bot/core/shop.py) -------------------------------------------------------------
HELP_BUY = Msg("/buy — buy credits\n/paysupport — help with a payment")
TERMS = (
    Msg("Terms of sale: credits are used only in this bot and don't expire while your account exists; "
    "/delete erases them with everything else. A job that fails gives its credits back (the credits, "
    "not the payment). For a problem with a payment: /paysupport.")
)
BUY_PICK = Msg("💳 Buy credits — pick a pack below. A personal model costs {train_cost}; each style batch costs {generate_cost}.")
BUTTON_BUY = Msg("💳 Buy credits")
PRICE_STARS = Msg("{stars} ⭐", same=True)
PRICE_DISCORD = Msg("bought in Discord's store")
NOT_SELLING = Msg("Credits aren't on sale here. Ask an admin if you need more.")
NOT_SOLD_TO_YOU = Msg("I can't sell credits to this account. Send /paysupport if you think that's a mistake.")
INVOICE_TITLE = Msg("{credits}", same=True)
INVOICE_DESCRIPTION = Msg("{credits} for Portrait Studio: a personal model costs {train_cost}, each style batch {generate_cost}.")
INVOICE_LABEL = Msg("{credits}", same=True)
CHECKOUT_REFUSED = {
    "not_selling": Msg("Credits aren't on sale right now."),
    "unknown_pack": Msg("This pack isn't on sale any more. Send /buy to see the current packs."),
    "pack_changed": Msg("This pack's price or size has changed since this invoice was made. Send /buy for a fresh one."),
    "not_the_buyer": Msg("This invoice was made for someone else. Send /buy for your own."),
    "banned": Msg("I can't sell credits to this account. Send /paysupport if you think that's a mistake."),
}
RECEIPT = (
    Msg("✅ Payment received — thank you! {credits} added; you now have {balance}.\n"
    "🧾 {pack}: {price} · charge id {charge}")
)
PURCHASE_NOT_SOLD = (
    Msg("⚠️ I got your purchase (order {charge}), but it isn't a credit pack I sell right now, so I added no "
    "credits. You won't be charged again for it, and it stays open so it can be refunded: ask Discord for "
    "a refund (Settings → Subscriptions / Billing, or Discord's support), or get help here: {contact}.")
)
ADMIN_PURCHASE_NOT_SOLD = (
    Msg("⚠️ Discord purchase {charge} by discord:{user_id} is for SKU {sku}, which no pack in STUDIO_CREDIT_PACKS "
    "has: not credited, left unconsumed. Add a pack with that SKU (the next start credits it) or have "
    "Discord refund it.")
)
REFUND_NOTICE = Msg("↩️ Your payment {charge} was refunded. {taken} taken back; you have {balance}.")
PAY_SUPPORT = (
    Msg("🧾 Help with a payment: {contact}. Please include the charge id from your receipt.\n"
    "Refunds of purchases are made by the operator; credits of a job that fails come back by themselves.")
)
PAY_SUPPORT_CONTACT = Msg("write here to the bot's operator")
REFUND_USAGE = Msg("Usage: /refund <charge id> [--allow-negative] (admins only)")
REFUND_DONE = Msg("Refunded {charge}: the payment went back to {platform}:{user_id}; {taken} taken back{shortfall}.")
REFUND_SHORTFALL = Msg(" (they had spent {shortfall}: recorded as a shortfall)")
REFUND_REFUSED = Msg("Not refunded: {reason}.")
REFUND_FAILED = Msg("Not refunded: the platform said {error}.")
PAYMENT_NOT_CREDITED = {  # a payment that matched no pack (bot/core/shop.py, PaymentMismatch)
    "not_our_invoice": (
        Msg("⚠️ I got your payment (charge id {charge}), but I couldn't match it to a credit pack, so I added "
        "no credits. Send /paysupport and quote the charge id: the operator will put it right.")
    ),
    "wrong_amount": (
        Msg("⚠️ I got your payment (charge id {charge}), but what was paid doesn't match the price of the pack "
        "it was for, so I added no credits. Send /paysupport and quote the charge id: the operator will put it right.")
    ),
}

GRANT_USAGE = Msg("Usage: /grant <user id> <credits> (admins only)")
GRANTED = Msg("Granted {amount} credits to {platform}:{user_id}; their balance is {balance}.")
NOT_ADMIN = Msg("That command is for admins.")
GRANT_NO_ACCOUNT = Msg("Not granted: {platform}:{user_id} has no account here, so there are no credits to take away.")
GRANT_MORE_THAN_BALANCE = (Msg("Not granted: {platform}:{user_id} has {balance} credits, so {taken} can't be taken "
                           "away (a balance never goes below 0)."))
