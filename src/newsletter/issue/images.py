"""Images of an issue's items, kept in the issue folder: ``bulletins/DATE/images/``.

An editor uploads an image for an item (the desk's ``POST /api/issues/{date}/images``);
``store_image`` checks it (alt text required, JPEG/PNG/WebP/GIF recognised by decoding it,
size and pixel caps), turns it upright (EXIF orientation), drops its metadata (EXIF, GPS,
camera, ICC, comments), and saves it cropped and resized to the item image box of the
template, at 1x and 2x. The item's ``image:`` then holds a path relative to the issue folder
(``images/atelier-360.jpg``): the email links it under ``web_url`` (``render.views``), the
archive publishes the folder with the issue, ``build`` and the preview show it locally.

``local_image_problem`` is the one rule for such a path, used where items are read
(``editor_items``, ``draft``): ``images/NAME`` with a file there, never outside the folder.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from newsletter.config import Config
from newsletter.errors import ContentError
from newsletter.i18n import _
from newsletter.paths import issue_dir
from newsletter.render.environment import template_dirs
from newsletter.render.views import IMAGES_DIR, is_local_image

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = [
    "ACCEPTED_FORMATS",
    "IMAGES_DIR",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "ImageError",
    "StoredImage",
    "copy_images",
    "image_box",
    "is_local_image",
    "local_image_problem",
    "store_image",
]

#: The most an uploaded file may weigh.
MAX_IMAGE_BYTES = 15 * 1024 * 1024
#: The most pixels an upload may have: more is refused before decoding (decompression bombs).
MAX_IMAGE_PIXELS = 50_000_000
#: Pillow's format names accepted, and the French names said to editors.
ACCEPTED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}
#: File names an item's local image may have.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})
#: The item image box of the default template (partials/item.mjml.j2), when none is found.
DEFAULT_BOX = (180, 120)
JPEG_QUALITY = 85
_ITEM_TEMPLATE = "partials/item.mjml.j2"


class ImageError(ContentError):
    """An upload that cannot be stored; the message is for the editor, in their language."""


@dataclass(frozen=True)
class StoredImage:
    """An image stored in the issue folder."""

    #: What goes into the item's ``image:``: the largest variant, relative to the issue folder.
    path: str
    alt: str
    #: Every variant written: width in pixels -> path relative to the issue folder.
    variants: dict[int, str]
    #: The box the email shows it in (CSS pixels).
    width: int
    height: int


# -- paths inside the issue folder --------------------------------------------------------------


def local_image_problem(folder: Path, value: str) -> str | None:
    """Why ``value`` may not be an item's local image in the issue ``folder``, or None when
    ``folder/images/...`` is a file inside the folder."""
    text = value.strip()
    pure = PurePosixPath(text)
    if (
        "\\" in text
        or pure.is_absolute()
        or ".." in pure.parts
        or len(pure.parts) < 2
        or pure.parts[0] != IMAGES_DIR
    ):
        return _(
            "'image' must be an absolute URL or a file of the issue's {folder}/ folder "
            "written as '{folder}/NAME.jpg' (got {value})"
        ).format(folder=IMAGES_DIR, value=repr(text))
    if pure.suffix.lower() not in IMAGE_SUFFIXES:
        return _("'image' {value} is not a JPEG, PNG, WebP or GIF file name").format(
            value=repr(text)
        )
    path = folder.joinpath(*pure.parts)
    try:
        inside = path.resolve().is_relative_to(_images_dir(folder))
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        return _(
            "'image' {value} is a link to a file outside the issue folder; copy it here"
        ).format(value=repr(text))
    if not path.is_file():
        return _(
            "'image' {value}: no such file in {folder}/ "
            "(upload it again from the desk, or correct the name)"
        ).format(value=repr(text), folder=f"{folder.name}/{IMAGES_DIR}")
    return None


def _images_dir(folder: Path) -> Path:
    """Where the issue's images really are: ``images/`` of the folder's real path (an
    ``images`` that is a link elsewhere does not count as inside)."""
    return folder.resolve() / IMAGES_DIR


def copy_images(config: Config, issue_date: date, target: Path) -> list[Path]:
    """Copy the issue's ``images/`` folder to ``target/images/`` (files that changed only);
    returns the files written. For ``build`` and the archive. Only image files that really
    lie in the folder are copied: never what a link points to elsewhere."""
    source = issue_dir(config, issue_date) / IMAGES_DIR
    inside = _images_dir(source.parent)
    if not source.is_dir() or source.resolve() != inside:
        return []
    written: list[Path] = []
    for path in sorted(source.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if not path.is_file() or not path.resolve().is_relative_to(inside):
            continue
        data = path.read_bytes()
        destination = target / IMAGES_DIR / path.name
        if destination.is_file() and destination.read_bytes() == data:
            continue
        _write_bytes(destination, data)
        written.append(destination)
    return written


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- the template's box -------------------------------------------------------------------------


class _BoxFinder(HTMLParser):
    """The width and height of the ``<mj-image>`` that shows ``item.image``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.box: tuple[int, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if self.box is None and tag == "mj-image" and "item.image" in values.get("src", ""):
            width, height = _pixels(values.get("width")), _pixels(values.get("height"))
            if width:
                self.box = (width, height or round(width * DEFAULT_BOX[1] / DEFAULT_BOX[0]))

    handle_startendtag = handle_starttag


def _pixels(value: str | None) -> int | None:
    match = re.fullmatch(r"\s*(\d{1,4})\s*(?:px)?\s*", value or "")
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def image_box(config: Config) -> tuple[int, int]:
    """Width and height (CSS pixels) of an item's image in the email, read from the item
    template the project uses (its own override first, else the default design)."""
    for folder in template_dirs(config):
        path = folder / _ITEM_TEMPLATE
        if path.is_file():
            finder = _BoxFinder()
            try:
                finder.feed(path.read_text(encoding="utf-8"))
                finder.close()
            except (OSError, UnicodeDecodeError):
                continue
            return finder.box or DEFAULT_BOX
    return DEFAULT_BOX


# -- storing an upload --------------------------------------------------------------------------


def slugify(text: str, fallback: str = "image") -> str:
    """A file name stem: ascii letters, digits and dashes, at most 40 characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40].strip("-")
    return slug or fallback


def store_image(
    config: Config, issue_date: date, data: bytes, filename: str, alt: str
) -> StoredImage:
    """Check, clean and store an uploaded image for an item of the issue of ``issue_date``.

    Raises ``ImageError`` (translated) when the alt text is missing, the file is too heavy, is not
    a JPEG, PNG, WebP or GIF image (whatever its name says), or has too many pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    alt = " ".join(alt.split())
    if not alt:
        raise ImageError(
            _(
                "The alt text is required: describe the image in one sentence for the readers "
                "who do not see it."
            )
        )
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(
            _("Image too large: {size} MB, the maximum is {maximum} MB.").format(
                size=f"{len(data) / 1_048_576:.1f}", maximum=MAX_IMAGE_BYTES // 1_048_576
            )
        )
    folder = issue_dir(config, issue_date)
    if not folder.is_dir():
        raise ImageError(
            _("The issue of {date} does not exist.").format(date=issue_date.isoformat())
        )
    images = folder / IMAGES_DIR
    if images.is_symlink() or (images.exists() and not images.is_dir()):
        raise ImageError(
            _(
                "{folder} is not a folder of the issue (a link?): images are not stored elsewhere."
            ).format(folder=f"{folder.name}/{IMAGES_DIR}")
        )
    not_an_image = ImageError(
        _("'{name}' is not a readable image: send a JPEG, PNG, WebP or GIF file.").format(
            name=filename
        )
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            source = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
            width, height = source.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ImageError(
                    _(
                        "Image too big: {width} by {height} pixels, the maximum is {maximum} "
                        "million pixels."
                    ).format(width=width, height=height, maximum=MAX_IMAGE_PIXELS // 1_000_000)
                )
            if source.format == "JPEG":
                # Decoded at a fraction of its size when that still covers twice the 2x box:
                # a 24 Mpx photo then takes a few MB of memory, not 70.
                side = 4 * max(image_box(config))
                source.draft("RGB", (side, side))
            source.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            _("Image too big: the maximum is {maximum} million pixels.").format(
                maximum=MAX_IMAGE_PIXELS // 1_000_000
            )
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise not_an_image from exc
    if source.format not in ACCEPTED_FORMATS:
        raise not_an_image
    upright = ImageOps.exif_transpose(source)
    keep_alpha = _has_alpha(upright)
    extension = "png" if keep_alpha else "jpg"
    box_width, box_height = image_box(config)
    images.mkdir(exist_ok=True)
    stem = slugify(PurePosixPath(filename.replace("\\", "/")).stem)
    scales = [1] + [s for s in (2,) if upright.width >= box_width * s * 0.75]
    variants: dict[int, bytes] = {}
    for scale in scales:
        size = (box_width * scale, box_height * scale)
        variants[size[0]] = _encode(
            ImageOps.fit(upright, size, Image.Resampling.LANCZOS), extension
        )
    names = _claim(images, stem, extension, variants)
    largest = max(names)
    return StoredImage(
        path=f"{IMAGES_DIR}/{names[largest]}",
        alt=alt,
        variants={w: f"{IMAGES_DIR}/{name}" for w, name in sorted(names.items())},
        width=box_width,
        height=box_height,
    )


def _has_alpha(image: PILImage.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA"):
        low, _high = image.getchannel("A").getextrema()
        return isinstance(low, int | float) and low < 255
    return image.mode == "P" and "transparency" in image.info


def _encode(image: PILImage.Image, extension: str) -> bytes:
    """The image as JPEG (RGB) or PNG (RGBA), without any metadata."""
    mode = "RGBA" if extension == "png" else "RGB"
    if image.mode != mode:
        if mode == "RGB" and image.mode in ("RGBA", "LA", "P", "PA"):
            image = image.convert("RGBA")
            flat = _white(image.size)
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        else:
            image = image.convert(mode)
    image.info = {}  # nothing of the original's metadata is carried over
    out = io.BytesIO()
    if extension == "png":
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def _white(size: tuple[int, int]) -> PILImage.Image:
    from PIL import Image

    return Image.new("RGB", size, (255, 255, 255))


def _claim(images: Path, stem: str, extension: str, variants: dict[int, bytes]) -> dict[int, str]:
    """Write every variant under a name no other file has (``stem-W.ext``, else ``stem-2-W.ext``
    ...); never replaces a file. Returns width -> file name."""
    for attempt in range(1, 1000):
        base = stem if attempt == 1 else f"{stem}-{attempt}"
        names = {width: f"{base}-{width}.{extension}" for width in variants}
        if any((images / name).exists() for name in names.values()):
            continue
        written: list[Path] = []
        try:
            for width, name in names.items():
                _create(images / name, variants[width])
                written.append(images / name)
        except FileExistsError:  # taken meanwhile: undo this attempt, try the next name
            for path in written:
                path.unlink(missing_ok=True)
            continue
        return names
    raise ImageError(
        _("Too many images named '{name}' in this issue: rename the file.").format(name=stem)
    )


def _create(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` atomically; FileExistsError if it exists."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.link(tmp, path)  # fails if the name is taken: never overwrites
    finally:
        Path(tmp).unlink(missing_ok=True)
