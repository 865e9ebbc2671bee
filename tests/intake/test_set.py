from __future__ import annotations

import itertools
import re

import pytest
from PIL import Image

from engine.intake import IntakeConfig, PhotoCheck, RejectCode, check_set
from tests.intake.helpers import LENIENT, OBAMA_SET, assert_human_sentence, encode, load


def verdict_of(report, name: str):
    return next(v for v in report.verdicts if v.filename == name)


def test_biden_is_flagged_in_an_obama_set_whatever_the_order(real_checks: dict[str, PhotoCheck]) -> None:
    names = [*OBAMA_SET, "biden.jpg"]
    for order in itertools.permutations(names):
        report = check_set([real_checks[n] for n in order], LENIENT)
        biden = verdict_of(report, "biden.jpg")
        assert (biden.ok, biden.code) == (False, RejectCode.different_person), order
        assert all(verdict_of(report, n).ok for n in OBAMA_SET), order
        assert (report.accepted, report.rejected, report.ready_to_train) == (4, 1, True)
        assert not report.mixed_people
        assert_human_sentence(biden.message)


def test_two_people_half_and_half_is_not_ready(real_checks: dict[str, PhotoCheck]) -> None:
    names = ["obama.jpg", "biden.jpg", "obama3.jpg", "biden2.jpg"]
    for order in (names, names[::-1]):
        report = check_set([real_checks[n] for n in order], LENIENT)
        assert report.mixed_people
        assert not report.ready_to_train
        assert sum(v.code == RejectCode.different_person for v in report.verdicts) == 2
        assert "more than one person" in report.summary


def test_duplicates(real_checks: dict[str, PhotoCheck], check) -> None:
    resaved = check(encode(load("obama.jpg").resize((819, 1023), Image.Resampling.LANCZOS), quality=70))
    checks = [real_checks["obama2.jpg"], real_checks["obama.jpg"], real_checks["32bit.png"],
              resaved, real_checks["obama.jpg"], real_checks["obama3.jpg"]]
    report = check_set(checks, LENIENT)
    codes = [v.code for v in report.verdicts]
    assert codes == [None, None, RejectCode.duplicate, RejectCode.duplicate, RejectCode.duplicate, None]
    assert [v.duplicate_of for v in report.verdicts][2:5] == [1, 2, 2]
    assert "photo 3: same as photo 1" in report.summary


def test_photo_level_refusals_are_kept_and_summarised(real_checks: dict[str, PhotoCheck]) -> None:
    names = [*OBAMA_SET, "two_people.jpg", "obama_small.jpg"]
    report = check_set([real_checks[n] for n in names], IntakeConfig(min_side_px=256, min_photos=8))
    assert (report.accepted, report.rejected, report.ready_to_train) == (4, 2, False)
    assert report.still_needed == 4
    assert report.summary.startswith("4 of 6 accepted — photo 5: more than one face; photo 6: too small.")
    assert "Send 4 more good photos (you need at least 8)." in report.summary
    assert re.search(r"What would help: .+", report.summary)


def test_max_photos(real_checks: dict[str, PhotoCheck]) -> None:
    config = IntakeConfig(min_side_px=256, min_photos=2, max_photos=3)
    report = check_set([real_checks[n] for n in OBAMA_SET], config)
    assert [v.code for v in report.verdicts] == [None, None, None, RejectCode.too_many_photos]
    assert report.ready_to_train


def test_set_check_from_stored_records(real_checks: dict[str, PhotoCheck]) -> None:
    checks = [real_checks[n] for n in [*OBAMA_SET, "biden2.jpg"]]
    restored = [PhotoCheck.from_record(c.to_record()) for c in checks]
    assert check_set(restored, LENIENT) == check_set(checks, LENIENT)


@pytest.mark.parametrize("count", [0, 1])
def test_tiny_sets(real_checks: dict[str, PhotoCheck], count: int) -> None:
    report = check_set([real_checks["obama.jpg"]][:count], LENIENT)
    assert report.accepted == count and not report.ready_to_train and not report.mixed_people
    assert report.summary.startswith(f"{count} of {count} accepted")
