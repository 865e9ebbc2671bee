"""The terminal front end: the same conversation core, printed to the terminal, with pictures
and files written to a folder. `studio demo` walks it by hand; `studio run` without a bot token
plays the whole flow once with the sample selfies."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from bot.core import texts
from bot.core.notifier import JobWatcher
from bot.core.replies import Button, IncomingFile, Reply, UserRef
from bot.core.studio import Studio
from i18n import Msg

log = logging.getLogger(__name__)

PLATFORM = "console"
DEAD_ENDS = ("out of credits", "didn't work", "couldn't paint", "Something went wrong")
CONSOLE_HELP = Msg("Type /start, `photos FILE_OR_FOLDER...`, a button number, or /quit.")
USER = UserRef(PLATFORM, "local", "terminal", "there")


class DemoStopped(Exception):
    """The conversation ended somewhere else than the demo expected."""


class ConsoleMessenger:
    """Prints replies; albums and documents become files under ``out_dir``."""

    platform = PLATFORM

    def __init__(self, out_dir: Path, write: Callable[[str], None] = print) -> None:
        self.out_dir = out_dir
        self.write = write
        self.buttons: list[Button] = []
        self.received: list[Reply] = []
        self.arrived = asyncio.Event()
        self._ids = 0

    def _save(self, folder: str, items: tuple) -> list[Path]:
        target = self.out_dir / folder
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        for item in items:
            path = target / item.filename
            path.write_bytes(item.data)
            paths.append(path)
        return paths

    def _show_buttons(self, reply: Reply) -> None:
        if not reply.buttons:
            return
        self.buttons = [button for row in reply.buttons for button in row]
        self.write("     " + "  ".join(f"[{n}] {b.label}" + (f" ({b.url})" if b.url else "")
                                      for n, b in enumerate(self.buttons, start=1)))

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        self._ids += 1
        if reply.illustration is not None:
            [path] = self._save(f"picture-{self._ids}", (reply.illustration,))
            self.write(f"bot  🖼  {path}")
        if reply.album:
            paths = self._save(f"album-{self._ids}", reply.album)
            self.write(f"bot  🖼  {texts.PICTURE_COUNT(len(paths))}: {paths[0].parent}/")
            for path, picture in zip(paths, reply.album, strict=True):
                self.write(f"       {path.name}  {picture.caption}")
        if reply.documents:
            paths = self._save(f"files-{self._ids}", reply.documents)
            self.write(f"bot  📎 {texts.FILE_COUNT(len(paths))}: {paths[0].parent}/")
        if reply.text:
            self.write("bot  " + reply.text.replace("\n", "\n     "))
        self._show_buttons(reply)
        self.received.append(reply)
        self.arrived.set()
        return str(self._ids)

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        self.write("  ↻  " + reply.text.replace("\n", " · "))
        self._show_buttons(reply)


class ConsoleFrontEnd:
    def __init__(self, studio: Studio, out_dir: Path, *, write: Callable[[str], None] = print,
                 poll_seconds: float = 0.5, edit_interval_seconds: float = 3.0) -> None:
        self.studio = studio
        self.messenger = ConsoleMessenger(out_dir, write)
        self.write = write
        self.watcher = JobWatcher(studio, self.messenger, poll_seconds=poll_seconds,
                                  edit_interval_seconds=edit_interval_seconds)

    async def _show(self, replies: list[Reply]) -> None:
        for reply in replies:
            message_id = await self.messenger.send(USER.chat_id, reply)
            if reply.progress_of_job is not None and message_id is not None:
                await self.studio.remember_progress_message(reply.progress_of_job, message_id)

    async def say(self, line: str) -> None:
        """One line typed by the user: a /command, a button number, or `photos PATH...`."""
        line = line.strip()
        if not line:
            return
        self.write(f"you  {line}")
        if line.startswith("/"):
            name, *args = line[1:].split()
            await self._show(await self.studio.command(USER, name, args))
        elif line.isdigit() and 1 <= int(line) <= len(self.messenger.buttons):
            button = self.messenger.buttons[int(line) - 1]
            if button.url:  # a link: a terminal can only show it
                self.write(f"bot  {button.url}")
            else:
                await self.press_action(button.action, echo=False)
        elif line.startswith("photos "):
            await self.send_photos(photo_files([Path(p) for p in line.split()[1:]]), echo=False)
        else:
            await self._show(await self.studio.text(USER, line))

    async def press_action(self, action: str, *, echo: bool = True) -> None:
        if echo:
            label = next((b.label for b in self.messenger.buttons if b.action == action), action)
            self.write(f"you  [{label}]")
        await self._show(await self.studio.action(USER, action, source_message_id=str(self.messenger._ids)))

    async def send_photos(self, files: list[IncomingFile], *, echo: bool = True) -> None:
        if echo:
            self.write(f"you  (sends {len(files)} photos: {', '.join(f.filename for f in files)})")
        await self._show(await self.studio.photos(USER, files))

    async def wait_for(self, text: str, timeout: float) -> Reply:
        """Wait until the bot says something containing ``text`` (deliveries come from the watcher);
        DemoStopped as soon as it says something that ends the flow instead (no credits, a failure)."""
        async def arrived() -> Reply:
            while True:
                for reply in self.messenger.received:
                    if text in reply.text:
                        return reply
                    if any(stop in reply.text for stop in DEAD_ENDS):
                        raise DemoStopped(reply.text)
                self.messenger.arrived.clear()
                await self.messenger.arrived.wait()

        return await asyncio.wait_for(arrived(), timeout)

    async def autoplay(self, photos: list[IncomingFile], *, style_id: str, timeout: float) -> Path:
        """The whole product once, for a fresh user: start, selfies, training, a style, the album."""
        await self.studio.delete_everything(USER)
        await self.say("/start")
        await self.press_action("consent")  # the photos are of me, and I am 18 or older
        await self.send_photos(photos)
        await self.press_action("train")
        await self.press_action("class:person")
        await self.wait_for("model is ready", timeout)
        await self.press_action(f"style:{style_id}")
        await self.wait_for("Here you go", timeout)
        await self.press_action(next(b.action for b in self.messenger.buttons if b.action.startswith("files:")))
        self.messenger.received.clear()
        return self.messenger.out_dir

    async def interactive(self, stop: asyncio.Event) -> None:
        self.write(str(CONSOLE_HELP))
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() in {"/quit", "/exit"}:
                stop.set()
                return
            await self.say(line)


def photo_files(paths: list[Path]) -> list[IncomingFile]:
    files = []
    for path in paths:
        children = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")) if path.is_dir() else [path]
        files += [IncomingFile(p.read_bytes(), p.name, sent_as_document=True) for p in children]
    return files
