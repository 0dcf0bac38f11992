"""``ketch image``: the image layers on this machine, built and pulled."""

from __future__ import annotations

import json
import shutil
import time

import click

from .. import config
from ..worker.images.layers import LayerStore


def _store() -> LayerStore:
    return LayerStore(config.home() / "images" / "layers")


@click.group()
def image() -> None:
    """Inspect and prune the image layer cache."""


@image.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_layers(as_json: bool) -> None:
    """List cached layers, oldest first."""
    layers = sorted(_store().list(), key=lambda layer: layer["created"])
    if as_json:
        click.echo(json.dumps(layers, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"image layers in {config.home() / 'images'}")
    for column in ("layer", "kind", "step", "size", "made", "last used"):
        table.add_column(column)
    for layer in layers:
        kind = {"pulled": "pulled", "ref": "image"}.get(layer.get("kind", ""), "built")
        table.add_row(layer["id"][:12], kind, layer["step"], _size(layer["size"]),
                      _ago(layer["created"]), _ago(layer.get("used", layer["created"])))
    Console().print(table)


@image.command()
@click.argument("reference")
@click.option("--force", is_flag=True, help="Ask the registry again even if the tag was pulled.")
def pull(reference: str, force: bool) -> None:
    """Pull an image from its registry into this machine's layers (public images; a private
    one is pulled by the app that names its secret)."""
    import asyncio

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from ..worker.images.pull import pull as pull_image

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn()) as bar:
        task = bar.add_task(f"pulling {reference}", total=None)

        def watch(layers_done: int, layers: int, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total,
                       description=f"pulling {reference}: {layers_done}/{layers} layers")

        pulled = asyncio.run(pull_image(_store(), reference, None, bar.console.print, force,
                                        watch))
    click.echo(f"{reference}: {pulled.digest}, {len(pulled.layers)} layers")


@image.command()
@click.option("--older-than", default="7d", show_default=True,
              help="Remove layers not used for this long (e.g. 12h, 7d).")
@click.option("--all", "everything", is_flag=True, help="Remove every cached layer.")
def prune(older_than: str, everything: bool) -> None:
    """Remove layers not used lately (and what half-finished builds left)."""
    from .usage import parse_when

    store = _store()
    store.clean_partial()
    cutoff = time.time() if everything else parse_when(older_than) or 0.0
    removed = freed = 0
    for layer in store.list():
        if layer.get("used", layer["created"]) < cutoff:
            store.remove(layer["id"])
            removed += 1
            freed += layer["size"]
    mounts = config.home() / "images" / "mounts"
    if everything and mounts.exists():
        shutil.rmtree(mounts)
    click.echo(f"removed {removed} layers, {_size(freed)}")


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def _ago(when: float) -> str:
    seconds = time.time() - when
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"
