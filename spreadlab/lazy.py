"""Deferred imports: heavy libraries are imported where a command or page first uses them."""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for the module ``name`` and imports it on first attribute access. The import goes
    through the import system, whose locks make concurrent first uses (dashboard sessions run on
    threads) safe; afterwards the module's names are copied in, so lookups cost nothing extra."""

    def __init__(self, name: str) -> None:
        self._lazy_name = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._lazy_name)
        self.__dict__.update(vars(module))
        return getattr(module, attr)


def lazy_import(name: str) -> Any:
    """A stand-in for ``import name`` that imports the module when first used."""
    return LazyModule(name)
