"""A small stand-in for Discord on 127.0.0.1 that the real discord.py client talks to.

REST the way Discord answers it (``/api/v10/...``, JSON or multipart bodies with ``payload_json``
and ``files[n]``, snowflakes as strings, 429 with ``retry_after`` behind a ``Via`` header), a
gateway websocket (HELLO, IDENTIFY → READY, heartbeats) that pushes INTERACTION_CREATE events (and
messages, only to a bot that asked for them with the intent: a DM's, the bot's own in a DM too), and
a CDN for the attachments users send. It records interaction callbacks, follow-ups, channel
messages, edits and uploaded files, and enforces the rules that shape the bot: an interaction is
answered within 3 seconds of being sent, interaction tokens expire (after ``token_lifetime`` or
when a test calls ``expire_tokens()``), ephemeral messages are invisible to channel endpoints,
≤ 10 files and ≤ the upload limit per message, no empty messages.

A deferred response (type 5) creates the interaction's original message at once, flagged
``LOADING`` ("thinking…"), in ``history`` like any other message: an edit of ``@original``
replaces it, a DELETE removes it; one still loading is a dangling placeholder. A follow-up is
always a message of its own (Discord deprecated the first follow-up replacing "thinking…").
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.local_server import serve_locally

APPLICATION_ID = 900000000000000001
BOT_NAME = "Portrait Studio"
GUILD_ID = 910000000000000001
GUILD_CHANNEL_ID = 920000000000000001
GUILD_THREAD_ID = 940000000000000001  # a public thread under GUILD_CHANNEL_ID
EPHEMERAL = 64
LOADING = 128
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
TOKEN_LIFETIME = 15 * 60.0
DM_CHANNEL_BASE = 930000000000000000  # a user's DM channel with the bot: this plus their id
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
"""Gateway intents: Discord sends a message event only to a bot that identified with the intent for
where it was said (a server channel, or a DM with the bot)."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def user_json(user_id: int, name: str) -> dict[str, Any]:
    return {"id": str(user_id), "username": name.lower(), "global_name": name, "discriminator": "0", "avatar": None}


BOT_USER = user_json(APPLICATION_ID, BOT_NAME) | {"bot": True}


@dataclass
class Posted:
    """One message the bot produced, as it stands now (edits update it and are logged apart)."""

    via: str
    """``channel`` (REST as the bot), ``followup`` or ``original`` (interaction token)."""
    channel_id: int
    message_id: int
    content: str = ""
    components: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    """{filename, data, description} per uploaded file."""
    flags: int = 0
    token: str | None = None
    allowed_mentions: dict[str, Any] | None = None
    """As the bot sent it with the message (or its last edit): whom the message may notify."""

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for row in self.components for c in row.get("components", []) if c.get("type") == 2]

    @property
    def button_labels(self) -> list[str]:
        return [b.get("label", "") for b in self.buttons]

    def button(self, label_part: str) -> dict[str, Any]:
        for button in self.buttons:
            if label_part in button.get("label", ""):
                return button
        raise KeyError(f"no button with {label_part!r} in {self.button_labels}")

    def json(self) -> dict[str, Any]:
        return {
            "id": str(self.message_id), "channel_id": str(self.channel_id), "author": BOT_USER, "content": self.content,
            "timestamp": _now(), "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
            "mention_roles": [], "embeds": [], "pinned": False, "type": 0, "flags": self.flags,
            "components": self.components, "application_id": str(APPLICATION_ID),
            "attachments": [{"id": str(i + 1), "filename": f["filename"], "size": len(f["data"]), "description": f["description"],
                             "url": f"https://cdn.invalid/{f['filename']}", "proxy_url": f"https://cdn.invalid/{f['filename']}"}
                            for i, f in enumerate(self.files)],
        }


@dataclass
class Callback:
    """An interaction response (``POST /interactions/{id}/{token}/callback``)."""

    interaction_id: int
    type: int
    data: dict[str, Any]


@dataclass
class _Interaction:
    id: int
    token: str
    type: int
    channel_id: int
    created: float | None = None
    """When it was sent to the bot (``sent``): Discord's clocks start then, not when the payload was built."""
    expired: bool = False
    original: Posted | None = None
    message_id: int | None = None
    """The message whose button was pressed (component interactions)."""


class FakeDiscord:
    def __init__(self, token: str, *, upload_limit: int = DEFAULT_UPLOAD_LIMIT, token_lifetime: float = TOKEN_LIFETIME) -> None:
        self.token = token
        self.upload_limit = upload_limit
        self.closed_dms: set[int] = set()  # users who allow no DMs from the bot (403, code 50007)
        self.token_lifetime = token_lifetime
        self.calls: list[tuple[str, str]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        """Synced application commands per scope: ``global`` or the guild id."""
        self.callbacks: list[Callback] = []
        self.history: list[Posted] = []
        self.edits: list[Posted] = []
        self.deleted: list[int] = []
        self.typing: list[int] = []
        self.refused: list[tuple[str, int, str]] = []
        """(path, status, reason) of every request the stand-in refused."""
        self.failures: list[dict[str, Any]] = []
        self.identified = asyncio.Event()
        """Set while a connected bot has identified (or resumed)."""
        self.identifications = 0
        """How many times a bot identified or resumed: a restarted bot waits for a new one."""
        self.entitlements: dict[int, dict[str, Any]] = {}
        """Store purchases (premium buttons), by entitlement id, as Discord keeps them."""
        self.consumed: list[int] = []
        """Entitlements the bot consumed, in order (a second consume of one is refused)."""
        self._messages: dict[int, Posted] = {}
        self._interactions: dict[str, _Interaction] = {}
        self._attachments: dict[str, tuple[bytes, str]] = {}
        self._ids = itertools.count(1_200_000_000_000_000_000)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._ready: list[web.WebSocketResponse] = []
        """Sockets whose bot identified: the ones gateway events go to."""
        self.intents: dict[int, int] = {}
        """The intents each socket (by ``id``) identified with."""
        self._sequence = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ server
    async def start(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{id}/{name}", self._cdn)
        app.router.add_route("*", "/api/v10/{path:.+}", self._api)
        self._runner, self.port = await serve_locally(app)

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def next_id(self) -> int:
        return next(self._ids)

    # ------------------------------------------------------------------ test side: users act
    def add_attachment(self, data: bytes, filename: str = "selfie.jpg", content_type: str = "image/jpeg",
                       size: int | None = None) -> dict[str, Any]:
        attachment_id = str(self.next_id())
        self._attachments[attachment_id] = (data, content_type)
        url = f"http://127.0.0.1:{self.port}/cdn/{attachment_id}/{filename}"
        return {"id": attachment_id, "filename": filename, "size": len(data) if size is None else size, "url": url,
                "proxy_url": url, "content_type": content_type}

    def interaction(self, type_: int, user_id: int, data: dict[str, Any] | None = None, *, name: str = "Alex",
                    guild: bool = False, message: Posted | None = None, upload_limit: int | None = None,
                    app_permissions: str = "2251799813685247", thread: bool = False) -> dict[str, Any]:
        """A raw INTERACTION_CREATE payload as Discord sends it, in a DM or in the test guild (in
        its channel, or with ``thread`` in a public thread of it)."""
        interaction_id = self.next_id()
        token = f"itoken-{interaction_id}"
        user = user_json(user_id, name)
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(APPLICATION_ID), "type": type_, "token": token, "version": 1,
            "locale": "en-US", "entitlements": [], "authorizing_integration_owners": {"0": str(GUILD_ID) if guild else "0"},
            "attachment_size_limit": upload_limit or self.upload_limit, "app_permissions": app_permissions,
        }
        if data is not None:
            payload["data"] = data
        if guild:
            channel_id = GUILD_THREAD_ID if thread else GUILD_CHANNEL_ID
            channel: dict[str, Any] = {"id": str(channel_id), "type": 0, "guild_id": str(GUILD_ID), "name": "portraits",
                                       "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None}
            if thread:
                channel |= {"type": 11, "name": "my portraits", "parent_id": str(GUILD_CHANNEL_ID), "owner_id": str(user_id),
                            "message_count": 3, "member_count": 2, "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "locked": False,
                                                "archive_timestamp": _now()}}
            payload |= {
                "guild_id": str(GUILD_ID), "guild_locale": "en-US", "context": 0, "channel_id": str(channel_id),
                "guild": {"id": str(GUILD_ID), "locale": "en-US", "features": []},
                "channel": channel,
                "member": {"user": user, "roles": [], "joined_at": _now(), "deaf": False, "mute": False, "flags": 0,
                           "permissions": "2251799813685247"},
            }
        else:
            channel_id = self.dm_channel_id(user_id)
            payload |= {"context": 1, "channel_id": str(channel_id), "user": user,
                        "channel": {"id": str(channel_id), "type": 1, "recipients": [user], "last_message_id": None}}
        if message is not None:
            payload["message"] = message.json()
        self._interactions[token] = _Interaction(interaction_id, token, type_, channel_id,
                                                 message_id=message.message_id if message is not None else None)
        return payload

    @staticmethod
    def dm_channel_id(user_id: int) -> int:
        return DM_CHANNEL_BASE + user_id

    def direct_message(self, user_id: int, content: str = "", *, name: str = "Alex", author: dict[str, Any] | None = None,
                       type_: int = 0, **fields: Any) -> dict[str, Any]:
        """A raw MESSAGE_CREATE payload: a message in the user's DM with the bot, sent by them (or by
        ``author``), with the fields Discord puts in it (``attachments=[add_attachment(...)]``,
        ``sticker_items=[...]``, ``poll={...}``, ``embeds=[...]``, or one discord.py does not know).
        Send it with ``dispatch(payload, "MESSAGE_CREATE")``."""
        return {"id": str(self.next_id()), "channel_id": str(self.dm_channel_id(user_id)), "channel_type": 1,
                "author": author or user_json(user_id, name), "content": content, "timestamp": _now(),
                "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
                "attachments": [], "embeds": [], "pinned": False, "type": type_, "flags": 0, "components": [], **fields}

    def command_payload(self, user_id: int, name: str, *, guild: bool = False, upload_limit: int | None = None,
                        **options: Any) -> dict[str, Any]:
        """``/name option:value ...``: ints, strings, users ({"user": ...}) and attachments (``add_attachment``)."""
        data_options, resolved = self._options(options)
        data: dict[str, Any] = {"id": str(self.command_id(name)), "name": name, "type": 1, "options": data_options}
        if resolved:
            data["resolved"] = resolved
        return self.interaction(2, user_id, data, guild=guild, upload_limit=upload_limit)

    def command_id(self, name: str) -> int:
        for scoped in self.commands.values():
            for command in scoped:
                if command["name"] == name:
                    return int(command["id"])
        return 0

    @staticmethod
    def _options(options: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        data_options: list[dict[str, Any]] = []
        resolved: dict[str, dict[str, Any]] = {}
        for key, value in options.items():
            if isinstance(value, dict) and "url" in value:
                resolved.setdefault("attachments", {})[value["id"]] = value
                data_options.append({"name": key, "type": 11, "value": value["id"]})
            elif isinstance(value, dict) and "username" in value:
                resolved.setdefault("users", {})[value["id"]] = value
                data_options.append({"name": key, "type": 6, "value": value["id"]})
            elif isinstance(value, bool):
                data_options.append({"name": key, "type": 5, "value": value})
            elif isinstance(value, int):
                data_options.append({"name": key, "type": 4, "value": value})
            else:
                data_options.append({"name": key, "type": 3, "value": str(value)})
        return data_options, resolved

    def autocomplete_payload(self, user_id: int, name: str, option: str, typed: str, **others: Any) -> dict[str, Any]:
        data_options, _ = self._options(others)
        data_options.append({"name": option, "type": 3, "value": typed, "focused": True})
        return self.interaction(4, user_id, {"id": str(self.command_id(name)), "name": name, "type": 1, "options": data_options})

    def press_payload(self, user_id: int, message: Posted, label_part: str, *, guild: bool = False,
                      **context: Any) -> dict[str, Any]:
        """A press of the button whose label contains ``label_part``; ``context``: ``interaction``'s
        app_permissions, upload_limit, thread."""
        button = message.button(label_part)
        return self.interaction(3, user_id, {"custom_id": button["custom_id"], "component_type": 2}, guild=guild,
                                message=message, **context)

    def modal_submit_payload(self, user_id: int, modal: Callback, attachments: list[dict[str, Any]], *,
                             guild: bool = False) -> dict[str, Any]:
        upload = next(c["component"] for c in modal.data["components"] if c.get("component", {}).get("type") == 19)
        data = {
            "custom_id": modal.data["custom_id"],
            "components": [{"type": 18, "id": 1, "component": {"type": 19, "id": 2, "custom_id": upload["custom_id"],
                                                               "values": [a["id"] for a in attachments]}}],
            "resolved": {"attachments": {a["id"]: a for a in attachments}},
        }
        return self.interaction(5, user_id, data, guild=guild)

    def sent(self, payload: dict[str, Any]) -> None:
        """The interaction reaches the bot now: its 3 seconds to answer and its token's lifetime start.
        ``dispatch`` calls it; a test that hands a payload to the bot another way calls it itself."""
        interaction = self._interactions.get(payload.get("token", ""))
        if interaction is not None:
            interaction.created = time.monotonic()

    def expire_tokens(self) -> None:
        """Every interaction token issued so far is dead from now on (Discord's 15 minutes have passed):
        follow-ups and edits through them get 401 Invalid Webhook Token. Later interactions are not affected."""
        for interaction in self._interactions.values():
            interaction.expired = True

    async def dispatch(self, payload: dict[str, Any], event: str = "INTERACTION_CREATE") -> None:
        """Push a gateway event to the connected bot (waiting up to 30 s for one to have identified)."""
        await self.wait_until(lambda: any(not s.closed for s in self._ready), 30, "a bot identified on the gateway")
        if event == "INTERACTION_CREATE":
            self.sent(payload)
        await self._event(event, payload)

    async def _event(self, event: str, payload: dict[str, Any]) -> None:
        """To every identified bot that asked for it: a message event only with the intent for where it was said."""
        needed = (GUILD_MESSAGES if "guild_id" in payload else DIRECT_MESSAGES) if event.startswith("MESSAGE_") else 0
        for socket in [s for s in self._ready if not s.closed]:
            if self.intents.get(id(socket), 0) & needed == needed:
                await socket.send_json({"op": 0, "t": event, "s": next(self._sequence), "d": payload})

    # ------------------------------------------------------------------ test side: purchases
    def buy(self, user_id: int, sku_id: int) -> dict[str, Any]:
        """The user pays for a consumable SKU in Discord's store (a premium button): Discord makes an
        entitlement, not yet consumed. Send it with ``dispatch(entitlement, "ENTITLEMENT_CREATE")``."""
        entitlement = {"id": str(self.next_id()), "sku_id": str(sku_id), "application_id": str(APPLICATION_ID),
                       "user_id": str(user_id), "type": 1, "deleted": False, "consumed": False,
                       "starts_at": _now(), "ends_at": None}
        self.entitlements[int(entitlement["id"])] = entitlement
        return dict(entitlement)

    def refund(self, entitlement_id: int) -> dict[str, Any]:
        """Discord refunds a purchase: the entitlement is deleted (``ENTITLEMENT_DELETE`` carries it)."""
        entitlement = self.entitlements[entitlement_id]
        entitlement["deleted"] = True
        return dict(entitlement)

    def _entitlements(self, query: Any) -> list[dict[str, Any]]:
        found = sorted(self.entitlements.values(), key=lambda e: int(e["id"]))
        if query.get("user_id"):
            found = [e for e in found if e["user_id"] == query["user_id"]]
        if query.get("sku_ids"):
            found = [e for e in found if e["sku_id"] in query["sku_ids"].split(",")]
        if query.get("exclude_deleted", "1") != "0":
            found = [e for e in found if not e["deleted"]]
        limit = int(query.get("limit") or 100)
        if query.get("before"):
            found = [e for e in found if int(e["id"]) < int(query["before"])][-limit:]
        else:
            found = [e for e in found if int(e["id"]) > int(query.get("after") or 0)][:limit]
        return [dict(e) for e in found]

    def _consume(self, entitlement_id: int) -> None:
        entitlement = self.entitlements.get(entitlement_id)
        if entitlement is None or entitlement["deleted"]:
            raise _Refused(404, 10068, "Unknown Entitlement")
        if entitlement["consumed"]:
            raise _Refused(400, 40074, "Entitlement already consumed")
        entitlement["consumed"] = True
        self.consumed.append(entitlement_id)

    # ------------------------------------------------------------------ test side: reading
    def fail_next(self, path_part: str, *, status: int = 429, retry_after: float = 0.2) -> None:
        """The next request whose path contains ``path_part`` fails (429 with retry_after by default)."""
        self.failures.append({"path": path_part, "status": status, "retry_after": retry_after})

    def callbacks_for(self, payload: dict[str, Any]) -> list[Callback]:
        return [c for c in self.callbacks if c.interaction_id == int(payload["id"])]

    def answers_to(self, payload: dict[str, Any]) -> list[Posted]:
        """Messages sent through this interaction's token."""
        return [m for m in self.history if m.token == payload["token"]]

    def in_channel(self, channel_id: int) -> list[Posted]:
        return [m for m in self.history if m.channel_id == channel_id]

    def placeholder_of(self, payload: dict[str, Any]) -> Posted | None:
        """The original response of a deferred (type 5) interaction, whatever became of it."""
        interaction = self._interactions.get(payload["token"])
        return interaction.original if interaction is not None else None

    def dangling(self) -> list[Posted]:
        """Deferred responses still showing "thinking…" (neither replaced by an answer nor deleted)."""
        return [m for m in self.history if m.via == "original" and m.flags & LOADING]

    async def wait_until(self, condition: Any, timeout: float = 30.0, what: str = "a condition",
                         details: Any = None) -> None:
        """Until ``condition()`` is true, re-checked on every change the stand-in sees; fails after
        ``timeout``, with ``details()`` in the message."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    more = details() if details is not None else ""
                    raise AssertionError(f"timed out waiting for {what}{more}\nrefused: {self.refused}")
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    pass

    async def poke(self) -> None:
        """Wake every ``wait_until``/``wait_for`` to re-check (for conditions on things outside the stand-in)."""
        async with self._changed:
            self._changed.notify_all()

    def _last_messages(self) -> str:
        shown = "\n".join(f"  {m.via} {m.channel_id}: {m.content[:100]!r}" for m in self.history[-15:])
        return f"; last messages:\n{shown}"

    async def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "a message") -> Posted:
        """The first message (sent or edited, in order) that matches ``predicate``."""
        def first() -> Posted | None:
            return next((message for message in self.history + self.edits if predicate(message)), None)

        await self.wait_until(lambda: first() is not None, timeout, what, details=self._last_messages)
        found = first()
        assert found is not None
        return found

    async def wait_for_text(self, part: str, timeout: float = 30.0, **where: Any) -> Posted:
        def matches(message: Posted) -> bool:
            return part in message.content and all(getattr(message, k) == v for k, v in where.items())

        return await self.wait_for(matches, timeout, repr(part))

    async def wait_for_callback(self, payload: dict[str, Any], timeout: float = 30.0) -> Callback:
        await self.wait_until(lambda: bool(self.callbacks_for(payload)), timeout,
                              f"an answer to interaction {payload['id']}")
        return self.callbacks_for(payload)[0]

    # ------------------------------------------------------------------ gateway
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json({"op": 10, "d": {"heartbeat_interval": 41250}})
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if data["op"] == 1:
                    await socket.send_json({"op": 11})
                elif data["op"] == 2:
                    if data["d"]["token"] != self.token:
                        await socket.close(code=4004)
                        break
                    self.intents[id(socket)] = int(data["d"].get("intents") or 0)
                    ready = {"v": 10, "user": BOT_USER, "guilds": [], "session_id": "session-1",
                             "resume_gateway_url": self.gateway_url, "shard": [0, 1],
                             "application": {"id": str(APPLICATION_ID), "flags": 0}}
                    await socket.send_json({"op": 0, "t": "READY", "s": next(self._sequence), "d": ready})
                    await self._identified(socket)
                elif data["op"] == 6:
                    await socket.send_json({"op": 0, "t": "RESUMED", "s": next(self._sequence), "d": {}})
                    await self._identified(socket)
        finally:
            self._sockets.remove(socket)
            self.intents.pop(id(socket), None)
            if socket in self._ready:
                self._ready.remove(socket)
            if not self._ready:
                self.identified.clear()
            await self.poke()
        return socket

    async def _identified(self, socket: web.WebSocketResponse) -> None:
        if socket not in self._ready:
            self._ready.append(socket)
        self.identifications += 1
        self.identified.set()
        await self.poke()

    async def _cdn(self, request: web.Request) -> web.Response:
        found = self._attachments.get(request.match_info["id"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], content_type=found[1])

    # ------------------------------------------------------------------ REST
    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.calls.append((request.method, path))
        for failure in self.failures:
            if failure["path"] in path:
                self.failures.remove(failure)
                self.refused.append((path, failure["status"], "injected"))
                if failure["status"] == 429:
                    return _json({"message": "You are being rate limited.", "retry_after": failure["retry_after"],
                                              "global": False}, status=429, headers={"Via": "1.1 google"})
                return _error(failure["status"], 0, "injected failure")
        parts = path.split("/")
        try:
            if parts[0] == "interactions":
                return await self._callback(request, int(parts[1]), parts[2])
            if parts[0] == "webhooks":
                return await self._webhook(request, parts[2], parts[3:])
            if request.headers.get("Authorization") != f"Bot {self.token}":
                return _error(401, 0, "401: Unauthorized")
            if path == "users/@me":
                return _json(BOT_USER)
            if path == "oauth2/applications/@me":
                return _json(self._application())
            if parts[0] == "applications" and len(parts) == 3 and parts[2] == "entitlements" and request.method == "GET":
                return _json(self._entitlements(request.query))
            if parts[0] == "applications" and parts[2:3] == ["entitlements"] and parts[-1] == "consume":
                self._consume(int(parts[3]))
                await self.poke()
                return web.Response(status=204)
            if parts[0] == "applications" and parts[-1] == "commands" and request.method == "PUT":
                synced = self._sync(parts, await request.json())
                await self.poke()
                return _json(synced)
            if path == "users/@me/channels" and request.method == "POST":
                recipient = (await request.json())["recipient_id"]
                return _json({"id": str(self.dm_channel_id(int(recipient))), "type": 1, "last_message_id": None,
                              "recipients": [user_json(int(recipient), "Alex")]})
            if parts[0] == "channels":
                return await self._channel(request, int(parts[1]), parts[2:])
        except _Refused as refused:
            self.refused.append((path, refused.status, refused.message))
            return _error(refused.status, refused.code, refused.message)
        return _error(404, 0, f"404: Not Found ({request.method} {path})")

    @staticmethod
    def _application() -> dict[str, Any]:
        return {"id": str(APPLICATION_ID), "name": BOT_NAME, "description": "", "icon": None, "bot_public": True,
                "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": 0,
                "owner": user_json(1, "Owner"), "rpc_origins": [], "summary": "", "team": None}

    def _sync(self, parts: list[str], commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        scope = parts[3] if len(parts) > 4 and parts[2] == "guilds" else "global"
        stored = []
        for command in commands:
            stored.append({**command, "id": str(self.next_id()), "application_id": str(APPLICATION_ID), "version": "1",
                           **({"guild_id": scope} if scope != "global" else {})})
        self.commands[scope] = stored
        return stored

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """JSON body, or multipart ``payload_json`` plus ``files[n]``; files as {filename, data, description}."""
        if request.content_type == "application/json":
            return await request.json(), []
        if not request.can_read_body:
            return {}, []
        payload: dict[str, Any] = {}
        uploads: dict[int, dict[str, Any]] = {}
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":
                payload = json.loads(await part.text())
            elif part.name and part.name.startswith("files["):
                index = int(part.name[6:-1])
                uploads[index] = {"filename": part.filename or "", "data": bytes(await part.read())}
        described = {int(a["id"]): a.get("description") or "" for a in payload.get("attachments", []) if "id" in a}
        files = [uploads[i] | {"description": described.get(i, "")} for i in sorted(uploads)]
        return payload, files

    def _check_message(self, payload: dict[str, Any], files: list[dict[str, Any]], limit: int) -> None:
        if len(files) > 10:
            raise _Refused(400, 50035, "Invalid Form Body: at most 10 attachments")
        if sum(len(f["data"]) for f in files) > limit:
            raise _Refused(413, 40005, "Request entity too large")
        if len(payload.get("content") or "") > 2000:
            raise _Refused(400, 50035, "Invalid Form Body: content longer than 2000")
        if not (payload.get("content") or files or payload.get("components") or payload.get("embeds")):
            raise _Refused(400, 50006, "Cannot send an empty message")

    async def _record(self, message: Posted, *, edit: bool = False) -> None:
        """A new message joins ``history``; one already there (a placeholder replaced) changes in place.
        ``edit`` also logs a copy in ``edits``."""
        async with self._changed:
            if edit:
                self.edits.append(Posted(message.via, message.channel_id, message.message_id, message.content,
                                         message.components, message.files, message.flags, message.token,
                                         message.allowed_mentions))
            if not any(m is message for m in self.history):
                self.history.append(message)
            self._messages[message.message_id] = message
            self._changed.notify_all()

    async def _callback(self, request: web.Request, interaction_id: int, token: str) -> web.Response:
        interaction = self._interactions.get(token)
        if interaction is None or interaction.id != interaction_id:
            raise _Refused(404, 10062, "Unknown interaction")
        if any(c.interaction_id == interaction_id for c in self.callbacks):
            raise _Refused(400, 40060, "Interaction has already been acknowledged")
        if interaction.created is None:
            raise _Refused(404, 10062, "Unknown interaction (never sent to the bot: use dispatch or sent)")
        if time.monotonic() - interaction.created > 3.0:
            raise _Refused(404, 10062, "Unknown interaction (not answered within 3 seconds)")
        payload, files = await self._body(request)
        kind, data = payload["type"], payload.get("data") or {}
        message: Posted | None = None
        if kind in (4, 5):
            flags = int(data.get("flags") or 0) | (LOADING if kind == 5 else 0)
            if kind == 4:
                self._check_message(data, files, self.upload_limit)
            message = Posted("original", interaction.channel_id, self.next_id(), data.get("content") or "",
                             data.get("components") or [], files, flags, token)
            interaction.original = message
        pressed = self._messages.get(interaction.message_id) if interaction.message_id is not None else None
        if kind == 7:  # update the message whose button was pressed
            if pressed is None:
                raise _Refused(400, 50035, "Invalid Form Body: type 7 answers a button press only")
            pressed.content = data.get("content", pressed.content) or ""
            pressed.components = data.get("components", pressed.components) or []
        async with self._changed:
            self.callbacks.append(Callback(interaction_id, kind, data))
            self._changed.notify_all()
        if message is not None:  # a deferred one too: "thinking…" until it is replaced or deleted
            await self._record(message)
        if kind == 7 and pressed is not None:
            await self._record(pressed, edit=True)
        answer: dict[str, Any] = {"interaction": {
            "id": str(interaction_id), "type": interaction.type,
            "response_message_loading": kind == 5, "response_message_ephemeral": bool(message and message.ephemeral)}}
        if message is not None:
            answer["interaction"]["response_message_id"] = str(message.message_id)
            answer["resource"] = {"type": kind, "message": message.json()}
        else:
            answer["resource"] = {"type": kind}
        return _json(answer)

    async def _webhook(self, request: web.Request, token: str, rest: list[str]) -> web.StreamResponse:
        interaction = self._interactions.get(token)
        if interaction is None:
            raise _Refused(404, 10015, "Unknown Webhook")
        if interaction.expired or interaction.created is None or time.monotonic() - interaction.created > self.token_lifetime:
            raise _Refused(401, 50027, "Invalid Webhook Token")
        payload, files = await self._body(request)
        if not rest and request.method == "POST":  # a follow-up: always a new message
            # (Discord deprecated the first follow-up replacing "thinking…"; a bot edits @original)
            self._check_message(payload, files, self.upload_limit)
            message = Posted("followup", interaction.channel_id, self.next_id(), payload.get("content") or "",
                             payload.get("components") or [], files, int(payload.get("flags") or 0), token)
            await self._record(message)
            return _json(message.json())
        if rest[:1] == ["messages"] and len(rest) == 2:
            target = interaction.original if rest[1] == "@original" else self._messages.get(int(rest[1]))
            if target is None or target.token != token:
                raise _Refused(404, 10008, "Unknown Message")
            if request.method == "DELETE":
                async with self._changed:
                    self.deleted.append(target.message_id)
                    self.history[:] = [m for m in self.history if m is not target]
                    self._changed.notify_all()
                return web.Response(status=204)
            if request.method == "PATCH":
                if files:
                    self._check_message(payload, files, self.upload_limit)
                was_loading = bool(target.flags & LOADING)
                target.flags &= ~LOADING
                if "content" in payload:
                    target.content = payload["content"] or ""
                if "components" in payload:
                    target.components = payload["components"] or []
                if files:
                    target.files = files
                await self._record(target, edit=not was_loading)
                return _json(target.json())
        raise _Refused(404, 0, "404: Not Found")

    async def _channel(self, request: web.Request, channel_id: int, rest: list[str]) -> web.StreamResponse:
        if rest == ["typing"] and request.method == "POST":
            self.typing.append(channel_id)
            return web.Response(status=204)
        if rest[:1] == ["messages"] and len(rest) == 2 and request.method == "DELETE":
            # DELETE /channels/{channel.id}/messages/{message.id}: 204; the bot may always delete its own
            target = self._messages.get(int(rest[1]))
            if target is None or target.channel_id != channel_id or target.ephemeral:
                raise _Refused(404, 10008, "Unknown Message")
            del self._messages[target.message_id]
            self.deleted.append(target.message_id)
            return web.Response(status=204)
        payload, files = await self._body(request)
        if rest == ["messages"] and request.method == "POST":
            if channel_id in {self.dm_channel_id(user) for user in self.closed_dms}:
                raise _Refused(403, 50007, "Cannot send messages to this user")
            self._check_message(payload, files, self.upload_limit)
            message = Posted("channel", channel_id, self.next_id(), payload.get("content") or "",
                             payload.get("components") or [], files, int(payload.get("flags") or 0),
                             allowed_mentions=payload.get("allowed_mentions"))
            await self._record(message)
            if DM_CHANNEL_BASE <= channel_id < GUILD_THREAD_ID:  # as Discord does, the bot hears its own DMs too
                await self._event("MESSAGE_CREATE", message.json() | {"channel_type": 1})
            return _json(message.json())
        if rest[:1] == ["messages"] and len(rest) == 2 and request.method == "PATCH":
            target = self._messages.get(int(rest[1]))
            if target is None or target.channel_id != channel_id or target.ephemeral:
                raise _Refused(404, 10008, "Unknown Message")  # ephemeral messages are invisible to the channel
            if "content" in payload:
                target.content = payload["content"] or ""
            if "components" in payload:
                target.components = payload["components"] or []
            target.allowed_mentions = payload.get("allowed_mentions")
            await self._record(target, edit=True)
            return _json(target.json())
        raise _Refused(404, 0, "404: Not Found")


class _Refused(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with exactly ``Content-Type: application/json``, which discord.py insists on."""
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json", **(headers or {})})


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"code": code, "message": message}, status=status)
