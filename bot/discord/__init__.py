"""The Discord front end: slash commands, a selfie-upload modal, buttons that survive restarts and
inline image replies, all rendered from the platform-neutral conversation core."""
