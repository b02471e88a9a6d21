#!/usr/bin/env python3
"""Draws Kith's app icon and its four tray icons (one per connection state) as PNGs.

Kept as a script so the icons can be regenerated after a colour change; it needs only
the Python standard library (zlib for PNG encoding).
"""
import math
import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "icons"

# Tray states: fill colour of the presence dot, and whether it is hollow.
TRAY = {
    "tray-connected": ((46, 160, 67), False),
    "tray-connecting": ((210, 153, 34), False),
    "tray-offline": ((130, 138, 145), True),
    "tray-signed-out": ((200, 60, 60), True),
}


def png(width, height, pixels):
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def coverage(distance, edge):
    """Anti-aliased coverage of a pixel whose centre is `distance` from a shape edge at `edge`."""
    return max(0.0, min(1.0, edge - distance + 0.5))


def dot(size, colour, hollow):
    centre = (size - 1) / 2
    outer = size * 0.42
    inner = size * 0.26
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            d = math.hypot(x - centre, y - centre)
            alpha = coverage(d, outer)
            if hollow:
                alpha = min(alpha, 1.0 - coverage(d, inner))
            row += [*colour, int(255 * alpha)]
        rows.append(row)
    return png(size, size, rows)


def app_icon(size):
    """Two overlapping circles (friends) on a rounded square."""
    rows = []
    radius = size * 0.22
    bg = (37, 99, 235)
    for y in range(size):
        row = []
        for x in range(size):
            # Rounded square background.
            dx = max(abs(x - (size - 1) / 2) - (size / 2 - radius), 0)
            dy = max(abs(y - (size - 1) / 2) - (size / 2 - radius), 0)
            a_bg = coverage(math.hypot(dx, dy), radius)
            c1 = coverage(math.hypot(x - size * 0.40, y - size * 0.50), size * 0.20)
            c2 = coverage(math.hypot(x - size * 0.62, y - size * 0.50), size * 0.20)
            white = max(c1, c2 * 0.85)
            colour = [int(bg[i] * (1 - white) + 255 * white) for i in range(3)]
            row += [*colour, int(255 * a_bg)]
        rows.append(row)
    return png(size, size, rows)


def main():
    OUT.mkdir(exist_ok=True)
    for name, (colour, hollow) in TRAY.items():
        (OUT / f"{name}.png").write_bytes(dot(32, colour, hollow))
    # The hicolor sizes the Linux packages install (icon.png is the 256 px one).
    for size, name in [(32, "32x32.png"), (48, "48x48.png"), (64, "64x64.png"), (128, "128x128.png"), (256, "icon.png"), (512, "512x512.png")]:
        (OUT / name).write_bytes(app_icon(size))


if __name__ == "__main__":
    main()
