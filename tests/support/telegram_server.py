"""A small Telegram Bot API server on 127.0.0.1 that the real python-telegram-bot talks to.

It speaks the HTTP API the way Telegram does (form or multipart bodies, JSON-encoded non-text
values, ``attach://`` references in media groups, ``{"ok": ..., "result": ...}`` answers), keeps
the chat history the bot produced, serves uploaded files through ``getFile`` and the file URL, and
feeds updates to ``getUpdates`` long polling. Tests push user events and read what the bot sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.local_server import serve_locally

BOT_ID = 700000001
BOT_USERNAME = "portrait_studio_test_bot"


@dataclass
class Sent:
    """One message the bot produced (or edited)."""

    method: str
    chat_id: int
    message_id: int
    text: str = ""
    caption: str = ""
    buttons: list[list[dict[str, Any]]] = field(default_factory=list)
    media: list[dict[str, Any]] = field(default_factory=list)
    """sendMediaGroup items / sendPhoto / sendDocument: {type, caption, data, filename}."""
    media_group_id: str | None = None
    invoice: dict[str, Any] = field(default_factory=dict)
    """sendInvoice: {title, description, payload, currency, prices, total_amount}."""

    @property
    def button_labels(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]

    def button(self, label_part: str) -> dict[str, Any]:
        for row in self.buttons:
            for button in row:
                if label_part in button["text"]:
                    return button
        raise KeyError(f"no button with {label_part!r} in {self.button_labels}")


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.messages: dict[int, Sent] = {}
        self.history: list[Sent] = []
        self.edits: list[Sent] = []
        self.commands: list[dict[str, Any]] = []
        self.commands_by_scope: dict[str, list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] = {}
        self.callback_answers: list[dict[str, Any]] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.files: dict[str, tuple[bytes, str]] = {}
        self.file_sizes: dict[str, int] = {}
        self.failures: dict[str, list[dict[str, Any]]] = {}
        self.blocked: set[int] = set()  # users who blocked the bot: every call to their chat is a 403
        self.checkout_answers: dict[str, dict[str, Any]] = {}
        """answerPreCheckoutQuery per query id: {ok, error_message, late}."""
        self._checkouts: dict[str, tuple[float, dict[str, Any]]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        """Stars payments made, per telegram_payment_charge_id: {user_id, payment, refunded}."""
        self.refund_calls: list[dict[str, Any]] = []
        self.star_transactions: list[dict[str, Any]] = []
        """getStarTransactions: the bot's Stars transactions, oldest first (payments in, refunds out)."""
        self._charge_ids = itertools.count(1)
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._stopping = False
        self.port = 0

    # ------------------------------------------------------------------ server
    async def start(self) -> None:
        self._stopping = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner, self.port = await serve_locally(app)

    async def stop(self) -> None:
        # a long poll the stopped bot left open ends now, not at its deadline: the server's
        # clean-up waits for every request in flight (2 s of every test's teardown before)
        self._stopping = True
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------------ test side: user events
    def _user(self, user_id: int, name: str) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "en"}

    def _chat(self, user_id: int, name: str, group: int | None = None) -> dict[str, Any]:
        if group is not None:  # a group the bot was added to (group ids are negative)
            return {"id": group, "type": "supergroup", "title": "Friends"}
        return {"id": user_id, "type": "private", "first_name": name}

    async def _push(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update["update_id"] = update_id
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update_id

    def _base_message(self, user_id: int, name: str, group: int | None = None, **fields: Any) -> dict[str, Any]:
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": self._chat(user_id, name, group), "from": self._user(user_id, name), **fields}

    def _text_message(self, user_id: int, name: str, text: str, group: int | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._base_message(user_id, name, group, **fields)

    async def send_text(self, user_id: int, text: str, name: str = "Alex", *, group: int | None = None) -> int:
        """``group``: said in that group chat (a negative id) instead of the user's private chat with the bot."""
        return await self._push({"message": self._text_message(user_id, name, text, group)})

    async def edit_text(self, user_id: int, message_id: int, text: str, name: str = "Alex") -> int:
        """The user edits a message they sent earlier: an ``edited_message`` update."""
        message = self._text_message(user_id, name, text) | {"message_id": message_id, "edit_date": int(time.time())}
        return await self._push({"edited_message": message})

    def add_file(self, data: bytes, filename: str = "photo.jpg", declared_size: int | None = None) -> dict[str, Any]:
        number = next(self._file_ids)
        file_id = f"file-{number}"
        self.files[file_id] = (data, f"documents/{number}-{filename}")
        self.file_sizes[file_id] = declared_size if declared_size is not None else len(data)
        return {"file_id": file_id, "file_unique_id": f"u{number}", "file_size": self.file_sizes[file_id]}

    async def send_photo(self, user_id: int, data: bytes, *, name: str = "Alex", media_group_id: str | None = None,
                         width: int = 1280, height: int = 960, group: int | None = None) -> int:
        info = self.add_file(data)
        photo = [{**info, "width": width, "height": height}]
        fields: dict[str, Any] = {"photo": photo}
        if media_group_id:
            fields["media_group_id"] = media_group_id
        return await self._push({"message": self._base_message(user_id, name, group, **fields)})

    async def send_document(self, user_id: int, data: bytes, filename: str, mime_type: str = "image/jpeg", *,
                            name: str = "Alex", media_group_id: str | None = None, file_size: int | None = None) -> int:
        info = self.add_file(data, filename, declared_size=file_size)
        fields: dict[str, Any] = {"document": {**info, "file_name": filename, "mime_type": mime_type}}
        if media_group_id:
            fields["media_group_id"] = media_group_id
        return await self._push({"message": self._base_message(user_id, name, **fields)})

    async def send_sticker(self, user_id: int, name: str = "Alex") -> int:
        sticker = {"file_id": "sticker-1", "file_unique_id": "s1", "width": 512, "height": 512, "is_animated": False,
                   "is_video": False, "type": "regular"}
        return await self._push({"message": self._base_message(user_id, name, sticker=sticker)})

    async def send_video(self, user_id: int, name: str = "Alex", media_group_id: str | None = None) -> int:
        video = {"file_id": "video-1", "file_unique_id": "v1", "width": 640, "height": 480, "duration": 3}
        group = {"media_group_id": media_group_id} if media_group_id else {}
        return await self._push({"message": self._base_message(user_id, name, video=video, **group)})

    async def send_message(self, user_id: int, name: str = "Alex", *, group: int | None = None, **fields: Any) -> int:
        """A message of any kind, with the fields Telegram puts in it (``location={...}``, ``poll={...}``,
        or one the bot's library does not know yet)."""
        return await self._push({"message": self._base_message(user_id, name, group, **fields)})

    async def press(self, user_id: int, message: Sent, label_part: str, name: str = "Alex", *,
                    forged_data: str | None = None) -> int:
        """Press a button of ``message``; ``forged_data``: with other callback data than the bot put
        there (a client may send anything up to 64 bytes)."""
        button = message.button(label_part)
        group = message.chat_id if message.chat_id < 0 else None
        bot_message = {"message_id": message.message_id, "date": int(time.time()),
                       "chat": self._chat(user_id, name, group),
                       "from": {"id": BOT_ID, "is_bot": True, "first_name": "Studio", "username": BOT_USERNAME},
                       "text": message.text or "…"}
        query = {"id": f"cq-{next(self._update_ids)}", "from": self._user(user_id, name), "chat_instance": "ci-1",
                 "message": bot_message, "data": button["callback_data"] if forged_data is None else forged_data}
        return await self._push({"callback_query": query})

    # ------------------------------------------------------------------ test side: paying
    async def pre_checkout(self, user_id: int, invoice: Sent, name: str = "Alex") -> str:
        """The user taps Pay under ``invoice``: a pre_checkout_query update; returns its id."""
        query_id = f"pcq-{next(self._update_ids)}"
        details = invoice.invoice
        query = {"id": query_id, "from": self._user(user_id, name), "currency": details["currency"],
                 "total_amount": details["total_amount"], "invoice_payload": details["payload"]}
        self._checkouts[query_id] = (time.monotonic(), query)
        await self._push({"pre_checkout_query": query})
        return query_id

    async def checkout_answer(self, query_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The bot's answerPreCheckoutQuery for ``query_id`` (waits for it)."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while query_id not in self.checkout_answers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"the bot never answered pre-checkout query {query_id}")
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    pass
            return self.checkout_answers[query_id]

    def successful_payment(self, query_id: str) -> dict[str, Any]:
        """What Telegram charges once the bot said ok to ``query_id`` (a new charge id)."""
        answer = self.checkout_answers.get(query_id)
        assert answer is not None and answer["ok"] and not answer["late"], f"pre-checkout {query_id} was not approved"
        _, query = self._checkouts[query_id]
        number = next(self._charge_ids)
        payment = {"currency": query["currency"], "total_amount": query["total_amount"],
                   "invoice_payload": query["invoice_payload"],
                   "telegram_payment_charge_id": f"stxTESTcharge{number:06d}", "provider_payment_charge_id": ""}
        self.charges[payment["telegram_payment_charge_id"]] = {"user_id": query["from"]["id"], "payment": payment,
                                                               "refunded": False}
        self.star_transactions.append({
            "id": payment["telegram_payment_charge_id"], "amount": payment["total_amount"], "date": int(time.time()),
            "source": {"type": "user", "transaction_type": "invoice_payment", "user": query["from"],
                       "invoice_payload": payment["invoice_payload"]}})
        return payment

    async def deliver_payment(self, user_id: int, payment: dict[str, Any], name: str = "Alex", *,
                              group: int | None = None) -> int:
        """The service message with ``successful_payment``; deliver the same payment again to
        play Telegram delivering an update twice (a new update, the same charge). ``group``: paid
        under an invoice posted in that group."""
        return await self._push({"message": self._base_message(user_id, name, group, successful_payment=payment)})

    async def pay(self, user_id: int, invoice: Sent, name: str = "Alex") -> dict[str, Any]:
        """Tap Pay, wait for the bot's yes, and pay: returns the successful_payment delivered."""
        query_id = await self.pre_checkout(user_id, invoice, name)
        answer = await self.checkout_answer(query_id)
        assert answer["ok"], f"pre-checkout refused: {answer.get('error_message')}"
        payment = self.successful_payment(query_id)
        await self.deliver_payment(user_id, payment, name)
        return payment

    def invoices_to(self, chat_id: int) -> list[Sent]:
        return [m for m in self.history if m.chat_id == chat_id and m.method == "sendInvoice"]

    # ------------------------------------------------------------------ test side: reading the chat
    def sent_to(self, chat_id: int) -> list[Sent]:
        return [m for m in self.history if m.chat_id == chat_id]

    def texts_to(self, chat_id: int) -> list[str]:
        return [m.text or m.caption for m in self.sent_to(chat_id)]

    async def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "a message") -> Sent:
        """Wait for the first message (sent or edited, in order) that matches ``predicate``."""
        deadline = time.monotonic() + timeout
        seen = 0
        async with self._changed:
            while True:
                events = self.history + self.edits
                for message in events[seen:]:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    texts = "\n".join(f"  {m.method}: {(m.text or m.caption)[:120]!r}" for m in self.history[-15:])
                    raise AssertionError(f"timed out waiting for {what}; last messages:\n{texts}")
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    pass

    async def wait_for_text(self, chat_id: int, part: str, timeout: float = 30.0) -> Sent:
        return await self.wait_for(lambda m: m.chat_id == chat_id and part in (m.text or m.caption), timeout, repr(part))

    def fail_once(self, method: str, *, retry_after: int | None = None, description: str = "Bad Request",
                  status: int = 400) -> None:
        """Make the next call of ``method`` fail like Telegram does (429 with retry_after, 400, or a
        502 from its front servers)."""
        self.failures.setdefault(method, []).append({"retry_after": retry_after, "description": description,
                                                     "status": status})

    # ------------------------------------------------------------------ API
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
            return params
        if request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = {"data": value.file.read(), "filename": value.filename}
                else:
                    params[key] = _maybe_json(value)
        return params

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        if self.failures.get(method):
            failure = self.failures[method].pop(0)
            if failure["retry_after"] is not None:
                return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after "
                                          f"{failure['retry_after']}", "parameters": {"retry_after": failure["retry_after"]}},
                                         status=429)
            if failure.get("status") == 502:  # the front of Telegram's servers is down (a network blip)
                return web.Response(status=502, text="Bad Gateway")
            return web.json_response({"ok": False, "error_code": 400, "description": failure["description"]}, status=400)
        if str(params.get("chat_id", "")).lstrip("-").isdigit() and int(params["chat_id"]) in self.blocked:
            return web.json_response({"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
                                     status=403)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": f"Not Found: {method}"}, status=404)
        try:
            result = await handler(params)
        except _ApiError as error:
            return web.json_response({"ok": False, "error_code": 400, "description": str(error)}, status=400)
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        for data, file_path in self.files.values():
            if file_path == path:
                return web.Response(body=data)
        return web.Response(status=404)

    def _bot_message(self, chat_id: int, **fields: Any) -> dict[str, Any]:
        chat = {"id": chat_id, "type": "private"} if chat_id > 0 else {"id": chat_id, "type": "supergroup", "title": "Friends"}
        return {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat,
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Studio", "username": BOT_USERNAME}, **fields}

    async def _record(self, sent: Sent, *, edit: bool = False) -> None:
        async with self._changed:
            if edit:
                self.edits.append(sent)
            else:
                self.history.append(sent)
            self.messages[sent.message_id] = sent
            self._changed.notify_all()

    @staticmethod
    def _upload(value: Any, params: dict[str, Any]) -> dict[str, Any]:
        if isinstance(value, str) and value.startswith("attach://"):
            value = params[value.removeprefix("attach://")]
        if isinstance(value, dict) and "data" in value:
            return {"data": value["data"], "filename": value.get("filename") or ""}
        return {"data": b"", "filename": str(value)}  # a file_id or URL

    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Studio", "username": BOT_USERNAME,
                "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = params
        return True

    async def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        scope = (params.get("scope") or {}).get("type", "default")
        self.commands_by_scope[scope] = params.get("commands", [])
        if scope == "default":
            self.commands = self.commands_by_scope[scope]
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 2.0)
        async with self._changed:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and not self._stopping and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(self._changed.wait(), max(0.01, deadline - time.monotonic()))
                except TimeoutError:
                    break
            return list(self._updates[:100])

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message = self._bot_message(chat_id, text=params["text"])
        markup = params.get("reply_markup") or {}
        if markup:
            message["reply_markup"] = markup
        await self._record(Sent("sendMessage", chat_id, message["message_id"], text=params["text"],
                                buttons=markup.get("inline_keyboard", [])))
        return message

    async def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        original = self.messages.get(message_id)
        if original is None:
            raise _ApiError("Bad Request: message to edit not found")
        markup = params.get("reply_markup") or {}
        if original.text == params["text"] and original.buttons == markup.get("inline_keyboard", []):
            raise _ApiError("Bad Request: message is not modified")
        edited = Sent("editMessageText", chat_id, message_id, text=params["text"], buttons=markup.get("inline_keyboard", []))
        await self._record(edited, edit=True)
        return self._bot_message(chat_id, text=params["text"]) | {"message_id": message_id}

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        message_id = int(params["message_id"])
        original = self.messages.get(message_id)
        if original is None:
            raise _ApiError("Bad Request: message to edit not found")
        markup = params.get("reply_markup") or {}
        original.buttons = markup.get("inline_keyboard", [])
        return self._bot_message(original.chat_id, text=original.text) | {"message_id": message_id}

    async def _m_deleteMessage(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        self.chat_actions.append((int(params["chat_id"]), params["action"]))
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        self.callback_answers.append(params)
        return True

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._single_media("sendPhoto", "photo", params)

    async def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._single_media("sendDocument", "document", params)

    async def _single_media(self, method: str, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        upload = self._upload(params[kind], params)
        caption = params.get("caption", "")
        markup = params.get("reply_markup") or {}
        message = self._bot_message(chat_id, caption=caption, **{kind: _file_json(kind, upload)})
        if markup:
            message["reply_markup"] = markup
        await self._record(Sent(method, chat_id, message["message_id"], caption=caption,
                                buttons=markup.get("inline_keyboard", []), media=[{"type": kind, "caption": caption, **upload}]))
        return message

    async def _m_sendMediaGroup(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat_id = int(params["chat_id"])
        media = params["media"]
        if not 2 <= len(media) <= 10:
            raise _ApiError("Bad Request: wrong number of media in the album (2–10)")
        group_id = f"g{next(self._message_ids)}"
        results, items = [], []
        for item in media:
            upload = self._upload(item["media"], params)
            items.append({"type": item["type"], "caption": item.get("caption", ""), **upload})
            results.append(self._bot_message(chat_id, media_group_id=group_id, caption=item.get("caption", ""),
                                             **{item["type"]: _file_json(item["type"], upload)}))
        await self._record(Sent("sendMediaGroup", chat_id, results[0]["message_id"], caption=items[0]["caption"],
                                media=items, media_group_id=group_id))
        return results

    async def _m_sendInvoice(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        title, description, payload = params.get("title", ""), params.get("description", ""), params.get("payload", "")
        currency, prices = params.get("currency", ""), params.get("prices") or []
        if not 1 <= len(title) <= 32:
            raise _ApiError("Bad Request: INVOICE_TITLE_INVALID")  # 1-32 characters
        if not 1 <= len(description) <= 255:
            raise _ApiError("Bad Request: INVOICE_DESCRIPTION_INVALID")
        if not 1 <= len(payload.encode()) <= 128:
            raise _ApiError("Bad Request: INVOICE_PAYLOAD_INVALID")
        if not prices or any(int(p.get("amount", 0)) <= 0 for p in prices):
            raise _ApiError("Bad Request: TOTAL_AMOUNT_INVALID")
        if currency == "XTR":  # Telegram Stars: no provider token, exactly one price
            if params.get("provider_token"):
                raise _ApiError("Bad Request: PROVIDER_TOKEN_INVALID (payments in Telegram Stars take none)")
            if len(prices) != 1:
                raise _ApiError("Bad Request: exactly one price is allowed for payments in Telegram Stars")
        elif not params.get("provider_token"):
            raise _ApiError("Bad Request: PAYMENT_PROVIDER_INVALID")
        total = sum(int(p["amount"]) for p in prices)
        message = self._bot_message(chat_id, invoice={"title": title, "description": description, "start_parameter": "",
                                                      "currency": currency, "total_amount": total})
        await self._record(Sent("sendInvoice", chat_id, message["message_id"], text=title, invoice={
            "title": title, "description": description, "payload": payload, "currency": currency, "prices": prices,
            "total_amount": total}))
        return message

    async def _m_answerPreCheckoutQuery(self, params: dict[str, Any]) -> bool:
        query_id = params.get("pre_checkout_query_id", "")
        if query_id not in self._checkouts:
            raise _ApiError("Bad Request: QUERY_ID_INVALID")
        if query_id in self.checkout_answers:
            raise _ApiError("Bad Request: query is too old and response timeout expired or query ID is invalid")
        ok = params.get("ok") in (True, "true", "True", 1, "1")
        if not ok and not params.get("error_message"):
            raise _ApiError("Bad Request: error_message is required when ok is false")
        asked, _ = self._checkouts[query_id]
        late = time.monotonic() - asked > 10.0  # Telegram cancels the payment after 10 seconds
        async with self._changed:
            self.checkout_answers[query_id] = {"ok": ok, "error_message": params.get("error_message", ""), "late": late}
            self._changed.notify_all()
        if late:
            raise _ApiError("Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    async def _m_refundStarPayment(self, params: dict[str, Any]) -> bool:
        self.refund_calls.append(params)
        charge_id = params.get("telegram_payment_charge_id", "")
        charge = self.charges.get(charge_id)
        if charge is None or charge["user_id"] != int(params.get("user_id", 0)):
            raise _ApiError("Bad Request: CHARGE_NOT_FOUND")
        if charge["refunded"]:
            raise _ApiError("Bad Request: CHARGE_ALREADY_REFUNDED")
        charge["refunded"] = True
        payment = charge["payment"]
        self.star_transactions.append({
            "id": charge_id, "amount": payment["total_amount"], "date": int(time.time()),
            "receiver": {"type": "user", "transaction_type": "invoice_payment", "user": self._user(charge["user_id"], "Alex")}})
        refunded = {"currency": payment["currency"], "total_amount": payment["total_amount"],
                    "invoice_payload": payment["invoice_payload"], "telegram_payment_charge_id": charge_id}
        # Telegram tells the bot with a service message in the buyer's chat
        await self._push({"message": self._base_message(charge["user_id"], "Alex", refunded_payment=refunded)})
        return True

    async def _m_getStarTransactions(self, params: dict[str, Any]) -> dict[str, Any]:
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
        if not 1 <= limit <= 100:
            raise _ApiError("Bad Request: limit must be 1-100")
        return {"transactions": self.star_transactions[offset : offset + limit]}

    async def _m_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = params["file_id"]
        if file_id not in self.files:
            raise _ApiError("Bad Request: invalid file_id")
        data, path = self.files[file_id]
        if self.file_sizes[file_id] > 20 * 1024 * 1024:
            raise _ApiError("Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": file_id, "file_size": len(data), "file_path": path}


class _ApiError(Exception):
    pass


def _maybe_json(value: str) -> Any:
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _file_json(kind: str, upload: dict[str, Any]) -> Any:
    info = {"file_id": f"out-{upload['filename']}", "file_unique_id": f"o-{upload['filename']}", "file_size": len(upload["data"])}
    if kind == "photo":
        return [{**info, "width": 1024, "height": 1024}]
    return {**info, "file_name": upload["filename"]}
