#!/usr/bin/python3
"""Writes the PNG test fixtures under tests/Saliency.Tests/Fixtures/png/ with an encoder independent of the
decoder under test (Skia's libpng): Python's zlib + struct, filters implemented here from the PNG specification.

Pixel values follow a formula the tests recompute: sample(x, y, c) = (x*31 + y*17 + c*59 + x*y*7) % 256.
Run from the repository root: /usr/bin/python3 tools/make_png_fixtures.py (plain python3 works too).
"""
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "Saliency.Tests", "Fixtures", "png")
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def sample(x, y, c):
    return (x * 31 + y * 17 + c * 59 + x * y * 7) % 256


def rows(width, height, channels):
    return [bytes(sample(x, y, c) for x in range(width) for c in range(channels)) for y in range(height)]


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(kind, row, prior, bpp):
    out = bytearray([kind])
    for i, v in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        out.append((v - pred) & 0xFF)
    return bytes(out)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, color_type, depth, raw, extra=b"", interlace=0, idat_pieces=1):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace)
    data = zlib.compress(raw, 9)
    step = -(-len(data) // idat_pieces)
    idats = b"".join(chunk(b"IDAT", data[i:i + step]) for i in range(0, len(data), step))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + idats + chunk(b"IEND", b"")


def filtered_raw(width, height, channels, filters):
    raw, prior = b"", bytes(width * channels)
    for y, row in enumerate(rows(width, height, channels)):
        raw += filter_row(filters[y % len(filters)], row, prior, channels)
        prior = row
    return raw


def write(name, content):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(content)


def main():
    os.makedirs(OUT, exist_ok=True)
    cycle = [0, 1, 2, 3, 4]
    # Supported kinds; each row uses filter y % 5, so every filter type appears (on the first row too).
    write("gray-7x5-allfilters.png", png(7, 5, 0, 8, filtered_raw(7, 5, 1, cycle)))
    write("rgb-9x6-allfilters.png", png(9, 6, 2, 8, filtered_raw(9, 6, 3, cycle),
                                        extra=chunk(b"tEXt", b"Comment\x00fixture"), idat_pieces=3))
    write("rgba-5x11-allfilters.png", png(5, 11, 6, 8, filtered_raw(5, 11, 4, cycle)))
    write("grayalpha-3x4-paeth.png", png(3, 4, 4, 8, filtered_raw(3, 4, 2, [4])))
    write("gray-1x1.png", png(1, 1, 0, 8, filtered_raw(1, 1, 1, [0])))
    # Kinds the old hand-written codec refused; Skia reads them (16-bit is reduced to 8 bits).
    write("gray16-4x3.png", png(4, 3, 0, 16, b"".join(b"\x00" + bytes(8) for _ in range(3))))
    plte = chunk(b"PLTE", bytes([0, 0, 0, 255, 255, 255]))
    write("palette-4x3.png", png(4, 3, 3, 8, b"".join(b"\x00" + bytes([0, 1, 0, 1]) for _ in range(3)), extra=plte))
    # Adam7 on a 2x2 gray image: passes 1 (0,0), 6 (1,0), 7 (row 1); each pass row has its own filter byte.
    adam7 = b"\x00" + bytes([sample(0, 0, 0)]) + b"\x00" + bytes([sample(1, 0, 0)]) + b"\x00" + bytes([sample(0, 1, 0), sample(1, 1, 0)])
    write("interlaced-2x2.png", png(2, 2, 0, 8, adam7, interlace=1))
    # 16-bit gray ramp: big-endian samples sample16(x, y) = (x*4099 + y*13001 + 7) % 65536, filter 0.
    write("gray16-5x3-ramp.png", png(5, 3, 0, 16, b"".join(
        b"\x00" + b"".join(struct.pack(">H", (x * 4099 + y * 13001 + 7) % 65536) for x in range(5)) for y in range(3))))


if __name__ == "__main__":
    main()
