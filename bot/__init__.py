"""Chat front ends: a platform-neutral conversation core (bot/core) and thin adapters.

The bot process never imports torch: GPU work runs in the engine worker."""
