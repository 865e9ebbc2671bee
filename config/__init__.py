"""The leaf every layer reads: the settings object (pydantic-settings, ``STUDIO_*``), secret
redaction, and logging set-up. It imports nothing of the project (tests/test_layout.py)."""
