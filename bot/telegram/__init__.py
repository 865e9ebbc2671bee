"""The Telegram front end on python-telegram-bot 22: parse updates, call the core, render replies."""
