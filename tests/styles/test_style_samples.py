"""Style samples: `studio samples` paints one per style into a styles folder's ``samples/``, the
catalogue finds them there, and the picker's sheet is composed from them (once, until they change)."""

from __future__ import annotations

import asyncio
import logging
import os
from io import BytesIO
from pathlib import Path

from PIL import Image

from bot.core.style_sheet import StyleSheets
from styles import load_catalogue
from tests.support.style_samples import styles_folder_with_samples
from tests.support.cli import run_studio


def test_studio_samples_paints_one_sample_per_style_the_catalogue_finds(tmp_path: Path) -> None:
    folder = tmp_path / "styles"
    folder.mkdir()
    done = run_studio("samples", "--model", "tiny", "--style", "linkedin-headshot", "--style", "barbie-look",
                      env={"STUDIO_DEVICE": "cpu", "STUDIO_DATA_DIR": str(tmp_path / "data"),
                           "STUDIO_STYLES_DIRS": str(folder)})  # no -o: into the operator's styles folder
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 style samples written" in done.stdout
    assert "barbie-look" in done.stderr and "painted from the prompt alone" in done.stderr  # its LoRA is not here
    assert sorted(p.name for p in (folder / "samples").iterdir()) == ["barbie-look.jpg", "linkedin-headshot.jpg"]
    with Image.open(folder / "samples" / "linkedin-headshot.jpg") as sample:
        assert (sample.format, sample.size) == ("JPEG", (640, 800))
    assert set(load_catalogue([folder]).samples) == {"barbie-look", "linkedin-headshot"}

    from typer.testing import CliRunner

    from studio.cli import app

    unknown = CliRunner().invoke(app, ["samples", "--model", "tiny", "--style", "no-such-style", "-o", str(folder)])
    assert unknown.exit_code == 2 and "unknown style(s) no-such-style" in unknown.output


def test_the_catalogue_takes_samples_of_known_styles_and_a_later_folder_wins(tmp_path: Path) -> None:
    first = styles_folder_with_samples(tmp_path / "a")
    second = tmp_path / "b" / "styles"
    (second / "samples").mkdir(parents=True)
    Image.new("RGB", (8, 10)).save(second / "samples" / "gym-abs.png")
    catalogue = load_catalogue([first, second])
    assert set(catalogue.samples) == {"gym-abs", "gym-lifting", "gym-workout"}  # not notes.txt, not an unknown id
    assert catalogue.samples["gym-abs"] == second / "samples" / "gym-abs.png"
    assert load_catalogue().samples == {}  # none are shipped: they are painted on a GPU by `studio samples`


def test_samples_painted_while_the_bot_runs_are_shown_and_a_huge_one_is_not_decoded(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "styles"
    folder.mkdir()
    sheets = StyleSheets(load_catalogue([folder]))
    assert asyncio.run(sheets.for_category("gym")) is None
    (folder / "samples").mkdir()
    Image.new("RGB", (640, 800), (200, 40, 40)).save(folder / "samples" / "gym-abs.jpg")  # `studio samples` ran
    assert asyncio.run(sheets.for_category("gym")) is not None
    Image.new("1", (8000, 6000)).save(folder / "samples" / "gym-lifting.png")  # 48 MP: a bomb, for a thumbnail
    with caplog.at_level(logging.WARNING):
        assert asyncio.run(sheets.for_category("gym")) is not None
    assert "over 40 MP; its tile is left blank" in caplog.text


def test_a_sheet_is_made_once_and_again_when_a_sample_changes_and_a_broken_one_is_a_blank_tile(tmp_path: Path,
                                                                                            caplog) -> None:
    folder = styles_folder_with_samples(tmp_path)
    sheets = StyleSheets(load_catalogue([folder]))
    first = asyncio.run(sheets.for_category("gym"))
    assert first is not None and first.filename == "styles-gym.jpg"
    assert asyncio.run(sheets.for_category("gym")) is first
    assert asyncio.run(sheets.for_category("dating")) is None  # no samples in that category

    broken = folder / "samples" / "gym-abs.jpg"
    broken.write_bytes(b"not a jpeg")
    os.utime(broken, ns=(1, 1))
    with caplog.at_level(logging.WARNING):
        again = asyncio.run(sheets.for_category("gym"))
    assert again is not None and again is not first
    assert "could not be read" in caplog.text
    with Image.open(BytesIO(again.data)) as sheet:
        assert sheet.size == Image.open(BytesIO(first.data)).size


def test_two_first_openings_at_once_compose_the_sheet_once(tmp_path: Path, monkeypatch) -> None:
    from bot.core import style_sheet

    composed = []
    real = style_sheet.compose_sheet
    monkeypatch.setattr(style_sheet, "compose_sheet", lambda tiles: (composed.append(1), real(tiles))[1])
    sheets = StyleSheets(load_catalogue([styles_folder_with_samples(tmp_path)]))

    async def both() -> list:
        return await asyncio.gather(sheets.for_category("gym"), sheets.for_category("gym"))

    first, second = asyncio.run(both())
    assert first is second is not None and composed == [1]


def test_a_title_in_cyrillic_is_drawn_in_its_own_letters_not_boxes() -> None:
    """Style titles are data (TOML): an operator who writes them in Russian gets a sheet that says them."""
    import numpy as np
    import pytest

    from bot.core.style_sheet import title_font

    font = title_font()
    if not isinstance(getattr(font, "path", None), (str, os.PathLike)):  # Pillow's own font is read from memory
        pytest.skip("no system font beyond Latin here (the sheet falls back to Pillow's font)")
    zhe, de = (np.asarray(font.getmask(letter)) for letter in ("Ж", "Д"))
    assert zhe.shape != de.shape or (zhe != de).any()
