"""Issue 29: names that print alike are refused (item 11), and kiosk names give MQTT
topics and Home Assistant ids of their own, the same at every run (item 12)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.names import clean_name
from facedb.errors import InvalidInputError
from facedb.events.mqtt import device_topic

# --------------------------------------------------------------------------- item 11


@pytest.mark.parametrize(
    ("name", "code_point"),
    [
        ("Ba\u034fse", "U+034F COMBINING GRAPHEME JOINER"),
        ("Base\ufe0f", "U+FE0F VARIATION SELECTOR-16"),
        ("Ba\u17b4se", "U+17B4 KHMER VOWEL INHERENT AQ"),
        ("Ba\u180bse", "U+180B MONGOLIAN FREE VARIATION SELECTOR ONE"),
        ("Base\U000e0020", "U+E0020 TAG SPACE"),
    ],
)
def test_invisible_default_ignorable_characters_are_refused(name: str, code_point: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(code_point)):
        clean_name(name)


@pytest.mark.parametrize("name", ["\u0301Base", "Base \u0301x", "Base-\u0308"])
def test_a_combining_mark_on_no_letter_is_refused(name: str) -> None:
    with pytest.raises(InvalidInputError, match="combining mark on no letter"):
        clean_name(name)


@pytest.mark.parametrize(
    "name", ["José", "Nguyễn Văn An", "Zoë", "देवनागरी", "ไทย", "عربي", "한국어", "O'Brien-Smith"]
)
def test_names_in_every_script_still_pass(name: str) -> None:
    assert clean_name(name) == unicodedata.normalize("NFKC", name)


def test_a_second_person_cannot_print_like_the_first(settings: Settings, faces_dir: Path) -> None:
    photo = str(faces_dir / "face_recognition/examples/obama.jpg")
    runner = CliRunner()
    first = runner.invoke(main, ["enrol", "--name", "Base", "--source", photo])
    assert first.exit_code == 0, first.output
    result = runner.invoke(main, ["enrol", "--name", "Ba\u034fse", "--source", photo, "--force"])
    assert result.exit_code == 2, result.output
    assert "U+034F" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- item 12


def test_device_topics_are_one_per_name() -> None:
    names = ["正門", "裏口", "door 1", "door/1", "door_1", "door+1", "", "x" * 150, "x" * 151]
    topics = [device_topic(name) for name in names]
    assert len(set(topics)) == len(names), topics
    for topic in topics:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,100}", topic), topic
    assert device_topic("正門") == device_topic("正門")  # derived, not drawn


def test_device_topics_are_stable_across_versions_and_runs() -> None:
    # Names already of safe characters keep their topic (existing automations).
    assert device_topic("front-door") == "front-door"
    assert device_topic("kiosk_7") == "kiosk_7"
    # Others: the reduced name and 10 hex digits of the name's SHA-256, pinned here.
    assert device_topic("door 1") == "door_1-b222c10d1c"
    assert device_topic("正門") == "__-2018db9f06"
    # A safe name that looks like a hashed one is hashed too: no name can take
    # another's topic.
    assert device_topic("door_1-b222c10d1c") != "door_1-b222c10d1c"
