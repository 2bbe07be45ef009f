#!/usr/bin/python3
"""Writes the BMP and GIF test fixtures under tests/Saliency.Tests/Fixtures/{bmp,gif}/ with Pillow, an encoder
independent of Skia (the decoder under test). Skia has no BMP or GIF encoder, so these files are committed.

Pixel values follow formulas the tests recompute (tests/Saliency.Tests/Imaging/ImageCodecTests.cs):
  sample(x, y, c) = (x*31 + y*17 + c*59 + x*y*7) % 256            (as tools/make_png_fixtures.py)
  GIF palette index(x, y) = (x + 2*y) % 8, colour(i) = (i*31, i*17 + 5, 255 - i*29)
Setup once: bash tools/setup-fixtures.sh (Debian python3-pil). Run from the repository root:
  /usr/bin/python3 tools/make_bmp_gif_fixtures.py
"""
import os

from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "Saliency.Tests", "Fixtures")


def sample(x, y, c):
    return (x * 31 + y * 17 + c * 59 + x * y * 7) % 256


def formula_image(mode, width, height):
    channels = len(mode) if mode != "L" else 1
    image = Image.new(mode, (width, height))
    image.putdata([tuple(sample(x, y, c) for c in range(channels)) if channels > 1 else sample(x, y, 0)
                   for y in range(height) for x in range(width)])
    return image


def gif_colour(i):
    return (i * 31, i * 17 + 5, 255 - i * 29)


def indexed_image(width, height, index):
    image = Image.new("P", (width, height))
    image.putpalette([v for i in range(8) for v in gif_colour(i)])
    image.putdata([index(x, y) for y in range(height) for x in range(width)])
    return image


def main():
    bmp, gif = os.path.join(ROOT, "bmp"), os.path.join(ROOT, "gif")
    os.makedirs(bmp, exist_ok=True)
    os.makedirs(gif, exist_ok=True)
    # 24-bit BGR, bottom-up rows padded to 4 bytes (7*3 = 21 -> 24).
    formula_image("RGB", 7, 5).save(os.path.join(bmp, "rgb24-7x5.bmp"))
    # 8-bit with a 256-entry gray palette (Pillow's "L" mode).
    formula_image("L", 6, 3).save(os.path.join(bmp, "gray8-6x3.bmp"))
    # Indexed GIF, 8 colours.
    indexed_image(6, 4, lambda x, y: (x + 2 * y) % 8).save(os.path.join(gif, "palette-6x4.gif"), optimize=False)
    # Two frames: only the first ((x + 2y) % 8) may be decoded; the second uses (x + y + 3) % 8.
    first = indexed_image(5, 3, lambda x, y: (x + 2 * y) % 8)
    second = indexed_image(5, 3, lambda x, y: (x + y + 3) % 8)
    first.save(os.path.join(gif, "animated-5x3.gif"), save_all=True, append_images=[second], duration=100, loop=0,
               optimize=False, disposal=1)
    # Palette index 0 transparent: pixels with index 0 decode with alpha 0.
    indexed_image(4, 4, lambda x, y: (x + 2 * y) % 8).save(os.path.join(gif, "transparent-4x4.gif"), transparency=0,
                                                         optimize=False)


if __name__ == "__main__":
    main()
