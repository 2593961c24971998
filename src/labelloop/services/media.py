"""Media roots: the folders a project's item images may come from.

An item's image is a URL, a path relative to the project folder, or an absolute path. A
local path must resolve (``..`` and symbolic links followed) inside one of the project's
media roots: the project folder, the folders of files imported from the command line and
the folders an admin lists in the ``media_roots`` setting. Imports read a relative path
from the imported file's folder (stored as an absolute path unless that folder is the
project folder), check that every file exists and is an image, and store its width and
height; the server checks again on every image request and answers 404 outside the roots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from labelloop.core.records import ItemRecord
from labelloop.errors import NotFoundError, ValidationError
from labelloop.io.common import is_web_url
from labelloop.storage import ProjectInfo

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"})


def check_roots(roots: Iterable[str | Path]) -> list[Path]:
    """Resolve media roots; each must be an existing folder.

    Raises
    ------
    ValidationError
        Naming the first root that is not a folder.
    """
    if isinstance(roots, str | Path):
        raise ValidationError("media_roots must be a list of folders, not one string")
    out = []
    for r in roots:
        path = Path(r).expanduser()
        if not path.is_absolute():
            raise ValidationError(f"media root {str(r)!r} must be an absolute path")
        if not path.is_dir():
            raise ValidationError(f"media root {str(r)!r} is not an existing folder")
        out.append(path.resolve())
    return out


def media_roots(info: ProjectInfo, folder: Path | None) -> list[Path]:
    """The project folder (when known) and the configured media roots, resolved."""
    roots = [folder.resolve()] if folder is not None else []
    return roots + [Path(r).resolve() for r in info.media_roots]


def resolve_media(image: str, base: Path | None, roots: Sequence[Path]) -> Path | None:
    """The real path of a local image if it lies inside a media root, else None.

    ``base`` is the folder relative paths are resolved against (the project folder).
    """
    path = Path(image)
    if not path.is_absolute():
        if base is None:
            return None
        path = base / path
    try:
        real = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop, a name too long
        return None
    return real if any(real.is_relative_to(r) for r in roots) else None


def local_image(item: ItemRecord, base: Path | None, roots: Sequence[Path]) -> Path:
    """The local image file of an item, inside the media roots.

    Raises
    ------
    NotFoundError
        If the item has no local image, or it lies outside the media roots (``..`` and
        symbolic links are followed first), or it is not an image file.
    """
    if item.image is None or is_web_url(item.image):
        raise NotFoundError(f"item {item.id} has no local image")
    path = resolve_media(item.image, base, roots)
    if path is None:
        raise NotFoundError(f"the image of item {item.id} lies outside the media roots")
    if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
        raise NotFoundError(f"the image of item {item.id} is missing")
    return path


def image_size(path: Path) -> tuple[int, int]:
    """Width and height of a local image file, read from its header.

    Raises
    ------
    ValidationError
        If the file is missing, has no image suffix, or cannot be read as an image.
    """
    if not path.is_file():
        raise ValidationError(f"image file {str(path)!r} does not exist")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValidationError(f"{str(path)!r} is not an image file (suffix {path.suffix!r}; "
                              f"use one of {', '.join(sorted(IMAGE_SUFFIXES))})")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ValidationError(f"{str(path)!r} cannot be read as an image ({exc})") from None
    return int(width), int(height)
