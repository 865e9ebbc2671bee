"""The terminal front end (`studio demo`, and `studio run` without a bot token)."""
