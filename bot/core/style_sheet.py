"""The style picker's sample sheet: one sample portrait per style of a category, titled and in the
order of the picker's buttons, so people can look rather than read (``styles/*/samples``,
painted by ``studio samples``). The titles are the styles' in the language of the person looking
(``i18n.current()``), drawn in the first system font that has all their letters (Cyrillic,
accents…). Composed once per language and category and kept while its samples and titles stay the
same; sent as the picker's illustration, which the picker does without where it cannot be sent."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import unicodedata
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

import i18n
from bot.core.replies import Picture
from styles.catalogue import Catalogue

log = logging.getLogger(__name__)

TILE = (320, 400)  # 4:5, the feed size most styles deliver
LABEL_HEIGHT = 44
GAP = 12
BACKGROUND = (246, 244, 241)
PLACEHOLDER = (222, 219, 214)
INK = (34, 34, 34)
FONT_SIZE = 22
MAX_TILES = 12  # 4 rows of 3: a taller sheet is a poster, and Telegram refuses sides summing over 10000 px
OVERVIEW = "*"  # the categories' sheet (no category id has a star)
MAX_SAMPLE_PIXELS = 40_000_000  # a sample is a thumbnail: a larger file (a PNG bomb) is not decoded
#: fonts with more than Latin (the titles are said in Russian, with accents…), found on the system by
#: name, the first that has every letter of a sheet's titles drawing them (the image ships DejaVu:
#: fonts-dejavu-core); Pillow's built-in font, the last resort, has ASCII only and draws any other
#: letter as a box
TITLE_FONTS = ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf", "FreeSans.ttf", "Arial.ttf")
NO_GLYPH = "\ufdd0"  # a noncharacter: no font has it, so any font draws it as its missing-letter box
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _columns(count: int) -> int:
    return 2 if count in (2, 4) else min(3, count)


def _tile(path: Path | None) -> Image.Image:
    if path is not None:
        try:
            with Image.open(path) as image:
                if image.width * image.height > MAX_SAMPLE_PIXELS:
                    log.warning("style sample %s is %d×%d px, over %d MP; its tile is left blank", path, image.width,
                                image.height, MAX_SAMPLE_PIXELS // 1_000_000)
                    return Image.new("RGB", TILE, PLACEHOLDER)
                image.draft("RGB", (TILE[0] * 2, TILE[1] * 2))  # a large JPEG is decoded at a fraction of its size
                return ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), TILE, Image.Resampling.LANCZOS,
                                    centering=(0.5, 0.35))
        except (OSError, ValueError, Image.DecompressionBombError):
            log.warning("style sample %s could not be read; its tile is left blank", path, exc_info=True)
    return Image.new("RGB", TILE, PLACEHOLDER)


def _fitted(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    if draw.textlength(text, font=font) <= TILE[0] - 8:
        return text
    while text and draw.textlength(text + "…", font=font) > TILE[0] - 8:
        text = text[:-1]
    return text.rstrip() + "…"


@functools.cache
def _fonts() -> tuple[Font, ...]:
    """The fonts of TITLE_FONTS on this system, in that order, then Pillow's own."""
    found: list[Font] = []
    for name in TITLE_FONTS:
        try:
            found.append(ImageFont.truetype(name, FONT_SIZE))
        except OSError:
            continue
    if not found:
        log.info("none of %s on this system: sample sheet titles use Pillow's font (ASCII letters only)",
                 ", ".join(TITLE_FONTS))
    return (*found, ImageFont.load_default(size=FONT_SIZE))


def _shape(font: Font, text: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(text)
    return mask.size, bytes(mask)


def _drawn_alone(letter: str) -> bool:
    """A letter with a glyph of its own: not a space, a combining mark or a control."""
    return not letter.isspace() and unicodedata.category(letter) not in ("Mn", "Me", "Cf", "Cc", "Zs")


@functools.cache
def _has(index: int, letter: str) -> bool:
    """Whether the font ``_fonts()[index]`` has ``letter``: a letter it lacks is drawn as its box."""
    font = _fonts()[index]
    return _shape(font, letter) != _shape(font, NO_GLYPH)


def missing_letters(index: int, text: str) -> set[str]:
    """The letters of ``text`` that the font ``_fonts()[index]`` would draw as boxes."""
    return {letter for letter in set(text) if _drawn_alone(letter) and not _has(index, letter)}


@functools.lru_cache(maxsize=64)
def title_font(text: str = "") -> Font:
    """The first font of TITLE_FONTS on this system that has every letter of ``text`` (a sheet's
    titles), else the one missing fewest (said in the log); with no text, the first found."""
    fonts = _fonts()
    gaps = [missing_letters(index, text) for index in range(len(fonts))]
    best = min(range(len(fonts)), key=lambda index: (len(gaps[index]), index))
    if gaps[best]:
        log.warning("no font here has the letters %s of the sample sheet's titles: they are drawn as boxes "
                    "(install a font of TITLE_FONTS that has them; fonts-dejavu-core has Latin, Cyrillic and Greek)",
                    "".join(sorted(gaps[best])))
    return fonts[best]


def compose_sheet(tiles: list[tuple[str, Path | None]]) -> bytes:
    """A JPEG sheet: each (title, sample or None) as a 4:5 tile with its title beneath."""
    columns = _columns(len(tiles))
    rows = math.ceil(len(tiles) / columns)
    size = (columns * TILE[0] + (columns + 1) * GAP, rows * (TILE[1] + LABEL_HEIGHT) + (rows + 1) * GAP)
    sheet = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = title_font("".join(title for title, _ in tiles))
    for index, (title, path) in enumerate(tiles):
        row, column = divmod(index, columns)
        x = GAP + column * (TILE[0] + GAP)
        y = GAP + row * (TILE[1] + LABEL_HEIGHT + GAP)
        sheet.paste(_tile(path), (x, y))
        draw.text((x + TILE[0] // 2, y + TILE[1] + LABEL_HEIGHT // 2), _fitted(draw, title, font), fill=INK,
                  font=font, anchor="mm")
    out = BytesIO()
    sheet.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


class StyleSheets:
    """Sample sheets by language and category (the titles are the audience's), recomposed when a
    sample file changes (``studio samples`` while the bot runs)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        #: (language, category id or OVERVIEW) → (its titles and samples' stamps, the sheet)
        self._made: dict[tuple[str, str], tuple[tuple[object, ...], Picture | None]] = {}
        self._making: dict[tuple[str, str], asyncio.Lock] = {}  # two first openings at once compose it once

    async def for_category(self, category_id: str) -> Picture | None:
        """The category's sheet in the current audience's language, or None where none of its
        styles has a sample (or it cannot be made: the picker is never held up by its samples)."""
        styles = self.catalogue.in_category(category_id)[:MAX_TILES]
        return await self._sheet(category_id, lambda: [(s.title, self.catalogue.sample(s.id)) for s in styles],
                                 complete=False)

    async def overview(self) -> Picture | None:
        """One tile per category (its first style with a sample), titled as the categories' buttons;
        None unless every category has one (a mostly blank first look is worse than none)."""
        def tiles() -> list[tuple[str, Path | None]]:
            return [(category.title, next((path for style in self.catalogue.in_category(category.id)
                                           if (path := self.catalogue.sample(style.id)) is not None), None))
                    for category in self.catalogue.used_categories()[:MAX_TILES]]

        return await self._sheet(OVERVIEW, tiles, complete=True)

    async def _sheet(self, name: str, tiles_of: Callable[[], list[tuple[str, Path | None]]], *,
                     complete: bool) -> Picture | None:
        try:
            tiles = tiles_of()
            if not any(path for _, path in tiles) or (complete and not all(path for _, path in tiles)):
                return None
            version = tuple((title, _stamp(path) if path else None) for title, path in tiles)
        except OSError:  # a sample removed or unreadable while it was looked at
            log.warning("could not look at the samples for the %s sheet", name, exc_info=True)
            return None
        key = (i18n.current().language, name)
        async with self._making.setdefault(key, asyncio.Lock()):
            made = self._made.get(key)
            if made is not None and made[0] == version:
                return made[1]  # a sheet that could not be made is not tried again until a sample changes
            try:
                data = await asyncio.to_thread(compose_sheet, tiles)  # decoding and encoding stay off the event loop
                picture: Picture | None = Picture(data, "styles.jpg" if name == OVERVIEW else f"styles-{name}.jpg")
            except Exception:
                log.warning("could not compose the %s sample sheet", name, exc_info=True)
                picture = None
            self._made[key] = (version, picture)
            return picture


def _stamp(path: Path) -> tuple[str, int, int]:
    status = path.stat()
    return str(path), status.st_mtime_ns, status.st_size
