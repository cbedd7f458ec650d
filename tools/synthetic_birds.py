"""Draw small synthetic bird images together with the polygons of their parts.

Why: the demo and the end-to-end test must run offline, so nothing is
downloaded.  Each bird is drawn *from* its part polygons (in Label Studio's
percent coordinates), so the annotations we submit are exactly what is on the
image and the masks the pipeline makes can be checked pixel by pixel.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

PART_COLOURS = {"Body": (150, 90, 40), "Wing": (90, 60, 30), "Head": (60, 40, 20), "Beak": (240, 180, 0)}
DRAW_ORDER = ("Body", "Wing", "Head", "Beak")  # later parts lie on top, as in annotation result order


@dataclass(frozen=True)
class Bird:
    """One image and its parts: ``(label, [[x%, y%], ...])`` in drawing order."""

    name: str
    width: int
    height: int
    parts: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]
    jpeg: bytes


def _ellipse(
    cx: float, cy: float, rx: float, ry: float, n: int, tilt: float = 0.0
) -> list[tuple[float, float]]:
    points = []
    for i in range(n):
        a = 2 * math.pi * i / n
        x, y = rx * math.cos(a), ry * math.sin(a)
        points.append(
            (cx + x * math.cos(tilt) - y * math.sin(tilt), cy + x * math.sin(tilt) + y * math.cos(tilt))
        )
    return points


def bird_parts(rng: random.Random) -> dict[str, list[tuple[float, float]]]:
    """Part polygons in percent of the image for one randomly placed bird facing right or left."""
    facing = rng.choice((1, -1))
    cx, cy = rng.uniform(35, 65), rng.uniform(45, 65)
    rx, ry = rng.uniform(16, 22), rng.uniform(10, 14)
    head_r = rng.uniform(6, 8)
    hx, hy = cx + facing * rx * 0.95, cy - ry * 0.85
    beak_len = rng.uniform(6, 9)
    return {
        "Body": _ellipse(cx, cy, rx, ry, 24),
        "Wing": [
            (cx - facing * rx * 0.6, cy - ry * 0.2),
            (cx + facing * rx * 0.3, cy - ry * 0.6),
            (cx + facing * rx * 0.5, cy + ry * 0.1),
            (cx - facing * rx * 0.2, cy + ry * 0.5),
        ],
        "Head": _ellipse(hx, hy, head_r, head_r * 1.3, 16),
        "Beak": [
            (hx + facing * head_r * 0.8, hy - head_r * 0.35),
            (hx + facing * (head_r * 0.8 + beak_len), hy),
            (hx + facing * head_r * 0.8, hy + head_r * 0.35),
        ],
    }


def draw_bird(name: str, seed: int, width: int = 384, height: int = 288) -> Bird:
    """Render one bird on a sky-and-grass background and return it with its parts."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (135, 190, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, int(height * 0.8), width, height), fill=(70, 140, 60))
    parts = bird_parts(rng)
    rounded = []
    for label in DRAW_ORDER:
        points = tuple((round(x, 3), round(y, 3)) for x, y in parts[label])
        pixels = [(x * width / 100, y * height / 100) for x, y in points]
        draw.polygon(pixels, fill=PART_COLOURS[label])
        rounded.append((label, points))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return Bird(name=name, width=width, height=height, parts=tuple(rounded), jpeg=buffer.getvalue())


def flock(count: int, seed: int = 7) -> list[Bird]:
    """``count`` distinct birds named ``bird-000.jpg`` ... (deterministic for a seed)."""
    return [draw_bird(f"bird-{i:03d}.jpg", seed * 1000 + i) for i in range(count)]
