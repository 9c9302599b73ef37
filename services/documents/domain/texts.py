"""The printed texts in each language the school can choose, read from ``locales/*.toml``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).parents[1] / "locales"
LANGUAGES = ("en", "nl")


def load_texts(locales_dir: Path = LOCALES_DIR) -> dict[str, dict[str, Any]]:
    """Every language's texts by language code; a missing key in any language is an error."""
    texts = {
        lang: tomllib.loads((locales_dir / f"{lang}.toml").read_text("utf-8")) for lang in LANGUAGES
    }
    reference = set(texts["en"])
    for lang, table in texts.items():
        if set(table) != reference:
            raise ValueError(f"locale {lang} differs from en in {sorted(set(table) ^ reference)}")
    return texts
