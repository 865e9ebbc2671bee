"""Composition root of Portrait Studio: settings, logging and the `studio` command."""
