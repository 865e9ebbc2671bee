"""The gallery: a Telegram Mini App and a private web page with the styles and the user's own
portraits (``web.app.create_app``; ``studio web``, or beside the bots with STUDIO_WEB_URL)."""
