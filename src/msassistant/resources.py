"""The one loader for the package's reviewable data: rules (`rules/*.toml`) and prompts (`prompts/*`).

Everything a clinician reviews is read through here, from the installed package (importlib.resources),
and parsed once per process.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable


def path(*parts: str) -> Traversable:
    """A file of the package, e.g. path("rules", "scope.toml")."""
    return resources.files("msassistant").joinpath(*parts)


def read_text(*parts: str) -> str:
    return path(*parts).read_text(encoding="utf-8")


@lru_cache
def rule(name: str) -> dict:
    """A rules file, parsed: rule("scope") reads rules/scope.toml."""
    return tomllib.loads(read_text("rules", f"{name}.toml"))


@lru_cache
def prompt(name: str) -> str:
    """A prompt template: prompt("answer_system") reads prompts/answer_system.md."""
    return read_text("prompts", f"{name}.md").strip()


@lru_cache
def prompt_data(name: str) -> dict:
    """A prompts data file, parsed: prompt_data("follow_ups") reads prompts/follow_ups.toml."""
    file = path("prompts", f"{name}.toml")
    return tomllib.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
