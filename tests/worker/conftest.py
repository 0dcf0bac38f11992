"""Fixtures for the tests of the image builder."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

import ketch
from ketch.worker.images import Builder


@pytest.fixture(scope="module")
def image_builder(tmp_path_factory) -> Builder:
    """A builder with a layer store of its own, shared by a test module's tests."""
    return Builder(tmp_path_factory.mktemp("images"))


@pytest.fixture
def build_layers(image_builder) -> Callable[[ketch.Image], list[Path]]:
    """Build an image with `image_builder`: its layers' folders, lowest first."""
    def build(image: ketch.Image) -> list[Path]:
        built = asyncio.run(image_builder.build(image.to_wire(), lambda line: None))
        return [Path(layer) for layer in built.layers]

    return build
