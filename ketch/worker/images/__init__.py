"""Images on a node: layers built once from content-hashed steps, and what a container needs
to start from one."""

from .builder import Builder, BuiltImage, ImageBuildError

__all__ = ["BuiltImage", "Builder", "ImageBuildError"]
