"""Checking uploaded images by their bytes (never the name or the browser's content type)."""

from django.core.exceptions import ValidationError
from PIL import Image

IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
MEGABYTE = 1024 * 1024


def check_image(upload, *, max_bytes: int, max_pixels: int = 4096, name: str = "image") -> None:
    """Raise ValidationError unless `upload` is a PNG, JPEG or WebP within the limits; on success rename it
    `<name>.<ext>` (the user's file name is not kept) and rewind it."""
    if upload.size > max_bytes:
        raise ValidationError(
            f"The image is {upload.size / MEGABYTE:.1f} MB; the limit is {max_bytes / MEGABYTE:g} MB."
        )
    try:
        with Image.open(upload) as image:
            image_format, (width, height) = image.format, image.size
            image.verify()
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise ValidationError("This file is not a PNG, JPEG or WebP image.") from error
    if image_format not in IMAGE_FORMATS:
        raise ValidationError(f"{image_format} images are not accepted: use PNG, JPEG or WebP.")
    if width > max_pixels or height > max_pixels:
        raise ValidationError(f"The image is {width} by {height} px; at most {max_pixels} px a side.")
    upload.seek(0)
    upload.name = f"{name}.{IMAGE_FORMATS[image_format]}"
