"""A batch keeps the outputs that look most like the user, best first (real faces, real dlib)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine.gen_request import GeneratedImage
from engine.runtime.handlers.generate import choose_portraits
from engine.intake import IntakeConfig, check_photo
from tests.support.selfies import PHOTOS_DIR, obama_selfies


def output(name: str, index: int) -> GeneratedImage:
    with Image.open(PHOTOS_DIR / name) as image:
        return GeneratedImage(image.convert("RGB"), index=index, seed=100 + index, prompt="p", aspect="4:5")


def test_best_match_first_and_faceless_only_to_fill_the_batch() -> None:
    config = IntakeConfig(min_side_px=256)
    references = [check_photo(data, config=config).embedding.tolist() for data in obama_selfies(3)]
    noise = GeneratedImage(Image.fromarray(np.random.default_rng(1).integers(0, 255, (256, 256, 3), dtype=np.uint8)),
                           index=0, seed=7, prompt="p", aspect="4:5")
    generated = [noise, output("biden.jpg", 1), output("obama2.jpg", 2)]

    two = choose_portraits(generated, references, 2)
    assert [c.seed for c in two] == [102, 101]  # Obama (like the selfies) before Biden; the faceless one dropped
    assert two[0].score is not None and two[1].score is not None and two[0].score < two[1].score
    assert two[0].face is not None

    three = choose_portraits(generated, references, 3)
    assert [c.seed for c in three] == [102, 101, 7] and three[2].face is None and three[2].score is None

    assert [c.seed for c in choose_portraits(generated, [], 2)] == [7, 101]  # no references: as generated
