"""Images on a node: layers built once from content-hashed steps, and what a container needs
to start from one."""

from .buildbox import ImageBuildError
from .builder import Builder, BuiltImage

__all__ = ["BuiltImage", "Builder", "ImageBuildError"]
