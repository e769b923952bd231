"""Test order: the browser test (marker `browser`) runs last, after the chapter smoke runs it renders."""

from __future__ import annotations


def pytest_collection_modifyitems(session, config, items):
    items.sort(
        key=lambda item: item.get_closest_marker("browser") is not None
    )  # stable: keeps the rest in order
