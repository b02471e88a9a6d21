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

# Tray states: colour and shape. The shapes differ as well as the colours, so the
# states can be told apart without colour (colour-blind users, monochrome panels):
# connected a filled dot, connecting a ring with a gap, offline a hollow ring,
# signed out a ring with a slash.
TRAY = {
    "tray-connected": ((46, 160, 67), "dot"),
    "tray-connecting": ((210, 153, 34), "gapped-ring"),
    "tray-offline": ((130, 138, 145), "ring"),
    "tray-signed-out": ((200, 60, 60), "slashed-ring"),
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


def inside(shape, x, y, size):
    """Whether the point (x, y), in pixels from the top left, is inside `shape`."""
    c = size / 2
    d = math.hypot(x - c, y - c)
    outer, inner = size * 0.42, size * 0.26
    if shape == "dot":
        return d <= outer
    ring = inner <= d <= outer
    if shape == "ring":
        return ring
    if shape == "gapped-ring":
        # A quarter of the ring missing at the top right, like a spinner.
        angle = math.degrees(math.atan2(c - y, x - c)) % 360
        return ring and not 0 <= angle <= 90
    if shape == "slashed-ring":
        # A bar from the top left to the bottom right, as in a "no entry" sign.
        to_line = abs((x - c) - (y - c)) / math.sqrt(2)
        return ring or (d <= outer and to_line <= size * 0.08)
    raise ValueError(shape)


def state_icon(size, colour, shape, samples=4):
    """`shape` in `colour`, anti-aliased by supersampling each pixel."""
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            hits = sum(
                inside(shape, x + (i + 0.5) / samples, y + (j + 0.5) / samples, size)
                for i in range(samples)
                for j in range(samples)
            )
            row += [*colour, round(255 * hits / samples**2)]
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
    for name, (colour, shape) in TRAY.items():
        (OUT / f"{name}.png").write_bytes(state_icon(32, colour, shape))
    # The hicolor sizes the Linux packages install (icon.png is the 256 px one).
    for size, name in [(32, "32x32.png"), (48, "48x48.png"), (64, "64x64.png"), (128, "128x128.png"), (256, "icon.png"), (512, "512x512.png")]:
        (OUT / name).write_bytes(app_icon(size))


if __name__ == "__main__":
    main()
