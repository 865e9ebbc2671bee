"""One module per thing a user does; each is plain async functions over one ``Context``.

welcome (start, consent, help, privacy, typed text), status, photos, training, painting (a style,
more like this, the originals), menus (the style picker), buying (the shop), cancelling, erasure
(/delete) and admin (grant, refund). ``bot.core.studio`` dispatches to them from its tables."""
