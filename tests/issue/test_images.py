"""Images kept in the issue folder: stored from an upload, linked by the email under web_url,
shown locally by build, published by the archive; a missing or outside file is a check error."""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from newsletter.cli import app
from newsletter.config import Config, load_config
from newsletter.issue.folder import set_status
from newsletter.issue.images import (
    MAX_IMAGE_BYTES,
    ImageError,
    copy_images,
    image_box,
    local_image_problem,
    store_image,
)
from newsletter.issue.prepare import prepare
from newsletter.model import IssueStatus

DAY = date(2026, 12, 3)
SECRET = "images-test-secret-of-at-least-32-bytes"  # noqa: S105 (a test key)
ALT = "Des participants autour d'une table"


@pytest.fixture
def project(sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    return sample_project


@pytest.fixture
def config(project: Path) -> Config:
    return load_config(project / "schedule.yaml")


@pytest.fixture
def folder(config: Config) -> Path:
    return config.bulletins_dir / DAY.isoformat()


def invoke(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--config", str(project / "schedule.yaml")])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def photo(size: tuple[int, int] = (800, 600), fmt: str = "JPEG", **save: object) -> bytes:
    """A picture whose left half is red and right half blue (as stored, before EXIF)."""
    image = Image.new("RGB", size, (220, 20, 20))
    image.paste((20, 20, 220), (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def with_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = "Appareil Photo SA"  # Make
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 0.0)}  # GPS
    return photo(fmt="JPEG", exif=exif.tobytes())


def opened(folder: Path, relative: str) -> Image.Image:
    image = Image.open(folder / relative)
    image.load()
    return image


# -- store_image -------------------------------------------------------------------------------


def test_template_box_is_read_from_the_item_template(config: Config, project: Path) -> None:
    assert image_box(config) == (180, 120)  # templates/partials/item.mjml.j2
    override = project / "templates" / "partials"
    override.mkdir(parents=True)
    (override / "item.mjml.j2").write_text(
        '<mj-image src="{{ item.image }}" alt="{{ item.image_alt }}" width="200px" '
        'height="100px" />\n',
        encoding="utf-8",
    )
    assert image_box(config) == (200, 100)


def test_jpeg_stored_at_1x_and_2x_of_the_template_box(config: Config, folder: Path) -> None:
    stored = store_image(config, DAY, photo(), "Atelier Lyon.JPG", f"  {ALT}  ")
    assert stored.path == "images/atelier-lyon-360.jpg"
    assert stored.variants == {180: "images/atelier-lyon-180.jpg", 360: stored.path}
    assert stored.alt == ALT and (stored.width, stored.height) == (180, 120)
    assert opened(folder, stored.variants[180]).size == (180, 120)
    big = opened(folder, stored.path)
    assert big.size == (360, 240) and big.format == "JPEG"


def test_exif_orientation_applied_then_metadata_stripped(config: Config, folder: Path) -> None:
    source = Image.open(io.BytesIO(with_exif(6)))
    assert source.getexif()[0x0112] == 6 and source.getexif()[0x010F] == "Appareil Photo SA"
    stored = store_image(config, DAY, with_exif(6), "portrait.jpg", ALT)
    image = opened(folder, stored.path)
    assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
    assert b"Appareil" not in (folder / stored.path).read_bytes()
    # Orientation 6: turned a quarter clockwise, so the stored left (red) half is now on top.
    width, height = image.size
    top, bottom = image.getpixel((width // 2, 5)), image.getpixel((width // 2, height - 5))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]


def test_png_with_transparency_stays_png(config: Config, folder: Path) -> None:
    image = Image.new("RGBA", (600, 400), (0, 0, 0, 0))
    image.paste((10, 120, 90, 255), (100, 100, 500, 300))
    out = io.BytesIO()
    image.save(out, "PNG")
    stored = store_image(config, DAY, out.getvalue(), "logo.png", "Le logo du réseau")
    saved = opened(folder, stored.path)
    assert stored.path == "images/logo-360.png" and saved.mode == "RGBA"
    assert saved.getpixel((0, 0)) == (0, 0, 0, 0)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF"])
def test_opaque_png_webp_gif_become_jpeg(config: Config, folder: Path, fmt: str) -> None:
    stored = store_image(config, DAY, photo(fmt=fmt), f"photo.{fmt.lower()}", ALT)
    assert stored.path == "images/photo-360.jpg"
    assert opened(folder, stored.path).format == "JPEG"


def test_small_image_gets_the_1x_width_only(config: Config) -> None:
    stored = store_image(config, DAY, photo((200, 150)), "petite.jpg", ALT)
    assert stored.variants == {180: "images/petite-180.jpg"} and stored.path.endswith("-180.jpg")


def test_a_name_is_never_reused(config: Config, folder: Path) -> None:
    first = store_image(config, DAY, photo(), "atelier.jpg", ALT)
    before = (folder / first.path).read_bytes()
    second = store_image(config, DAY, photo((900, 600)), "atelier.jpg", ALT)
    third = store_image(config, DAY, photo(), "atelier.jpg", ALT)
    assert (first.path, second.path, third.path) == (
        "images/atelier-360.jpg",
        "images/atelier-2-360.jpg",
        "images/atelier-3-360.jpg",
    )
    assert (folder / first.path).read_bytes() == before
    assert not [p for p in (folder / "images").iterdir() if p.name.startswith(".")]


@pytest.mark.french
def test_alt_text_required(config: Config, folder: Path) -> None:
    with pytest.raises(ImageError, match="texte alternatif est obligatoire"):
        store_image(config, DAY, photo(), "atelier.jpg", "   ")
    assert not (folder / "images").exists()


@pytest.mark.french
def test_a_text_file_named_jpg_is_refused(config: Config, folder: Path) -> None:
    with pytest.raises(ImageError, match="n'est pas une image lisible"):
        store_image(config, DAY, b"Ceci n'est pas une pipe.\n" * 100, "photo.jpg", ALT)
    truncated = photo()[:400]
    with pytest.raises(ImageError, match="n'est pas une image lisible"):
        store_image(config, DAY, truncated, "photo.jpg", ALT)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    with pytest.raises(ImageError, match="n'est pas une image lisible"):
        store_image(config, DAY, svg, "photo.png", ALT)
    assert not list((folder / "images").glob("*")) if (folder / "images").exists() else True


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: its few bytes would decode to gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)


@pytest.mark.french
@pytest.mark.parametrize("size", [(9000, 9000), (100_000, 100_000)])
def test_decompression_bomb_refused(config: Config, size: tuple[int, int]) -> None:
    data = _png_header_only(*size)
    assert len(data) < 2000
    with pytest.raises(ImageError, match="Image trop grande"):
        store_image(config, DAY, data, "bombe.png", ALT)


@pytest.mark.french
def test_too_heavy_upload_refused(config: Config) -> None:
    with pytest.raises(ImageError, match="Image trop lourde"):
        store_image(config, DAY, b"\xff" * (MAX_IMAGE_BYTES + 1), "lourde.jpg", ALT)


@pytest.mark.french
def test_unknown_issue_refused(config: Config) -> None:
    with pytest.raises(ImageError, match="n'existe pas"):
        store_image(config, date(2031, 1, 2), photo(), "atelier.jpg", ALT)


# -- local image paths -------------------------------------------------------------------------


def test_local_image_paths(config: Config, folder: Path, tmp_path: Path) -> None:
    stored = store_image(config, DAY, photo(), "atelier.jpg", ALT)
    assert local_image_problem(folder, stored.path) is None
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(photo())
    (folder / "images" / "lien.jpg").symlink_to(outside)
    refused = {
        "images/absente.jpg": "no such file",
        "images/../issue.md": "must be an absolute URL or a file",
        "images/atelier.txt": "not a JPEG, PNG",
        "images\\atelier-360.jpg": "must be an absolute URL or a file",
        "images/lien.jpg": "outside the issue folder",
    }
    for value, reason in refused.items():
        why = local_image_problem(folder, value)
        assert why is not None and reason in why, (value, why)


def test_an_images_folder_that_links_elsewhere_is_not_used(
    config: Config, folder: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "ailleurs"
    elsewhere.mkdir()
    (elsewhere / "secret.jpg").write_bytes(photo())
    (folder / "images").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ImageError, match="is not a folder of the issue"):  # en: see conftest
        store_image(config, DAY, photo(), "atelier.jpg", ALT)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["secret.jpg"]
    why = local_image_problem(folder, "images/secret.jpg")
    assert why is not None and "outside the issue folder" in why
    assert copy_images(config, DAY, tmp_path / "out") == []
    assert not (tmp_path / "out").exists()


# -- the email, check, build and the archive ---------------------------------------------------


def _use_local_image(folder: Path, path: str) -> Path:
    item = folder / "atelier-alliances.md"
    text = item.read_text(encoding="utf-8")
    text = text.replace(
        'image: "https://example.org/images/atelier-alliances.jpg"', f"image: {path}"
    )
    item.write_text(text, encoding="utf-8")
    return item


def test_email_links_the_local_image_under_web_url(config: Config, folder: Path) -> None:
    stored = store_image(config, DAY, photo(), "atelier.jpg", ALT)
    _use_local_image(folder, stored.path)
    prepared = prepare(config, DAY)
    assert prepared.rendered is not None, [str(f) for f in prepared.findings]
    published = f"https://example.org/jeudi/2026-12-03/{stored.path}"
    assert f'src="{published}"' in prepared.rendered.html
    assert f'src="{stored.path}"' not in prepared.rendered.html
    assert not prepared.errors, [str(f) for f in prepared.errors]
    assert not [f for f in prepared.findings if "image" in f.message]


def test_missing_image_file_is_an_error_with_file_and_line(project: Path, folder: Path) -> None:
    _use_local_image(folder, "images/absente.jpg")
    code, out, err = invoke(project, "check", DAY.isoformat())
    assert code == 1
    assert re.search(r"bulletins/2026-12-03/atelier-alliances\.md:6: .*no such file", out + err)


def test_outside_path_is_an_error(project: Path, folder: Path) -> None:
    _use_local_image(folder, "../../schedule.yaml")
    code, out, err = invoke(project, "check", DAY.isoformat())
    assert code == 1
    assert "atelier-alliances.md:6: 'image' must be an absolute URL (got" in out + err


def test_non_https_web_url_reported_at_its_line(project: Path, config: Config) -> None:
    folder = config.bulletins_dir / DAY.isoformat()
    stored = store_image(config, DAY, photo(), "atelier.jpg", ALT)
    _use_local_image(folder, stored.path)
    settings = project / "schedule.yaml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace('"https://example.org/jeudi"', '"http://example.org/jeudi"'))
    code, out, err = invoke(project, "check", DAY.isoformat())
    line = next(
        n for n, row in enumerate(text.splitlines(), 1) if row.strip().startswith("web_url:")
    )
    assert code == 1
    assert re.search(rf"schedule\.yaml:{line}: newsletter\.web_url: is not https", out + err)


def test_collected_entry_may_use_a_local_image(config: Config, folder: Path) -> None:
    stored = store_image(config, DAY, photo(), "coop.jpg", ALT)
    (folder / "collected.yaml").write_text(
        "sections:\n"
        "  territoires:\n"
        "    - id: coop\n"
        "      include: true\n"
        '      title: "Une coopérative de mobilité"\n'
        '      url: "https://example.org/coop"\n'
        f"      image: {stored.path}\n"
        f'      image_alt: "{ALT}"\n'
        "    - id: perdue\n"
        "      include: true\n"
        '      title: "Une image perdue"\n'
        '      url: "https://example.org/perdue"\n'
        "      image: images/perdue.jpg\n",
        encoding="utf-8",
    )
    prepared = prepare(config, DAY)
    assert [str(p) for p in prepared.errors] == [
        "bulletins/2026-12-03/collected.yaml:13: 'image' 'images/perdue.jpg': no such file in "
        "2026-12-03/images/ (upload it again from the desk, or correct the name)"
    ]


def test_build_shows_the_image_locally(project: Path, config: Config, folder: Path) -> None:
    stored = store_image(config, DAY, photo(), "atelier.jpg", ALT)
    _use_local_image(folder, stored.path)
    out = project / "out"
    code, stdout, err = invoke(project, "build", DAY.isoformat(), "--out", str(out))
    assert code == 0, err
    html = (out / DAY.isoformat() / "email.html").read_text(encoding="utf-8")
    assert f'src="{stored.path}"' in html and "example.org/jeudi/2026-12-03/images" not in html
    built = out / DAY.isoformat() / stored.path
    assert built.read_bytes() == (folder / stored.path).read_bytes()
    assert f"wrote out/2026-12-03/{stored.path}" in stdout
    eml = (out / DAY.isoformat() / "email.eml").read_text(encoding="utf-8")
    assert "https://example.org/jeudi/2026-12-03/images/" in eml.replace("=\n", "")


def test_archive_publishes_the_images(project: Path, config: Config, folder: Path) -> None:
    stored = store_image(config, DAY, photo(), "atelier.jpg", ALT)
    _use_local_image(folder, stored.path)
    set_status(config, DAY, IssueStatus.APPROVED)
    code, out, err = invoke(project, "send", DAY.isoformat(), "--yes")
    assert code == 0, out + err
    code, out, err = invoke(project, "archive")
    assert code == 0, out + err
    page = (config.archive_dir / DAY.isoformat() / "index.html").read_text(encoding="utf-8")
    assert f"https://example.org/jeudi/2026-12-03/{stored.path}" in page
    for relative in stored.variants.values():
        published = config.archive_dir / DAY.isoformat() / relative
        assert published.read_bytes() == (folder / relative).read_bytes()
    # Run again: nothing changed, nothing rewritten.
    mtime = os.stat(config.archive_dir / DAY.isoformat() / stored.path).st_mtime_ns
    assert copy_images(config, DAY, config.archive_dir / DAY.isoformat()) == []
    assert os.stat(config.archive_dir / DAY.isoformat() / stored.path).st_mtime_ns == mtime


def test_archive_publishes_the_images_of_an_approved_issue_before_its_send(
    project: Path, config: Config, folder: Path
) -> None:
    stored = store_image(config, DAY, photo(), "atelier.jpg", ALT)
    _use_local_image(folder, stored.path)
    set_status(config, DAY, IssueStatus.DRAFT)
    code, out, err = invoke(project, "archive")
    assert code == 0, out + err
    assert not (config.archive_dir / DAY.isoformat()).exists()  # a draft publishes nothing
    set_status(config, DAY, IssueStatus.APPROVED)
    code, out, err = invoke(project, "archive")
    assert code == 0, out + err
    published = config.archive_dir / DAY.isoformat() / stored.path
    assert published.read_bytes() == (folder / stored.path).read_bytes()
    assert not (config.archive_dir / DAY.isoformat() / "index.html").exists()  # not sent yet


def test_built_email_shows_the_image_in_a_browser(
    project: Path, config: Config, folder: Path, browser: Any
) -> None:
    stored = store_image(config, DAY, photo(), "atelier.jpg", ALT)
    _use_local_image(folder, stored.path)
    out = project / "out"
    code, _out, err = invoke(project, "build", DAY.isoformat(), "--out", str(out))
    assert code == 0, err
    page = browser.new_page()
    try:
        page.goto((out / DAY.isoformat() / "email.html").as_uri())
        image = page.locator(f'img[src="{stored.path}"]')
        image.wait_for()
        natural = image.evaluate("img => img.complete ? img.naturalWidth : -1")
        assert natural == 360  # loaded from the copy next to email.html, not from web_url
        assert (image.get_attribute("alt") or "").startswith(ALT)  # the item's image_alt
    finally:
        page.close()
