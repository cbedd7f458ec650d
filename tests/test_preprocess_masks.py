"""Brush RLE decoding and polygon rasterisation of preprocessing/preprocess.py: exact, golden, reference-equal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from label_studio_sdk.converter.brush import decode_rle, encode_rle

from tests.conftest import load_processing_script

ROOT = Path(__file__).resolve().parents[1]


pp = load_processing_script("preprocess")


# ---------------------------------------------------------------------------------------------- brush RLE


def brush_rle(mask: np.ndarray, wordsize: int = 8, rle_sizes: list[int] | None = None) -> list[int]:
    return [int(v) for v in encode_rle(np.repeat(mask.ravel(), 4), wordsize, rle_sizes or [3, 4, 8, 16])]


def test_decode_matches_reference_on_a_disk():
    yy, xx = np.mgrid[0:48, 0:64]
    mask = np.where((xx - 30) ** 2 + (yy - 20) ** 2 < 150, 255, 0).astype(np.uint8)
    rle = brush_rle(mask)
    np.testing.assert_array_equal(pp.decode_brush_rle(rle), decode_rle(rle))
    assert pp.mask_from_brush(rle, 64, 48).sum() == (mask > 0).sum()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.lists(st.integers(0, 255), min_size=1, max_size=6),
    st.integers(0, 2**32 - 1),
    st.sampled_from([[3, 4, 8, 16], [1, 2, 3, 4], [16, 16, 16, 16], [2, 5, 9, 12]]),
)
def test_decode_matches_reference_on_random_data(width, height, palette, seed, rle_sizes):
    """Random values force literal runs, long constant stretches force repeat runs; both must match."""
    rnd = np.random.default_rng(seed)
    flat = np.asarray(palette, dtype=np.uint8)[rnd.integers(0, len(palette), size=width * height)]
    if rnd.random() < 0.5:  # blocky masks: long repeated runs
        flat = np.repeat(flat[: max(1, len(flat) // 8)], 8)[: width * height]
        flat = np.pad(flat, (0, width * height - len(flat)))
    rle = [int(v) for v in encode_rle(flat, 8, rle_sizes)]
    assert_same_as_reference(rle)


def assert_same_as_reference(rle: list[int]) -> None:
    """Equal output, or both reject the stream (the SDK's encoder can emit truncated streams)."""
    try:
        expected = decode_rle(rle)
    except (ValueError, IndexError):
        with pytest.raises(ValueError):
            pp.decode_brush_rle(rle)
        return
    np.testing.assert_array_equal(pp.decode_brush_rle(rle), expected)


def test_decode_small_word_size_matches_reference():
    """The SDK encoder is only sound with its defaults; with others both decoders must agree or both refuse."""
    flat = np.array([0, 1, 1, 1, 3, 2, 0, 0, 0, 0, 1], dtype=np.uint8)
    for sizes in ([1, 2, 3, 4], [3, 4, 8, 16], [2, 2, 2, 2]):
        assert_same_as_reference([int(v) for v in encode_rle(flat, 2, sizes)])
        assert_same_as_reference([int(v) for v in encode_rle(flat, 8, sizes)])


def test_default_parameters_round_trip():
    """What Label Studio actually writes (word size 8, run sizes 3/4/8/16) decodes to the encoded data."""
    flat = np.random.default_rng(1).integers(0, 256, size=997).astype(np.uint8)
    flat[100:600] = 255
    np.testing.assert_array_equal(pp.decode_brush_rle([int(v) for v in encode_rle(flat)]), flat)


def test_truncated_rle_is_an_error_not_garbage():
    rle = brush_rle(np.full((10, 10), 255, dtype=np.uint8))
    with pytest.raises(ValueError):
        pp.decode_brush_rle(rle[:6])


def test_brush_size_mismatch_is_an_error():
    rle = brush_rle(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="expected 5x4x4"):
        pp.mask_from_brush(rle, 5, 4)


def test_brush_alpha_threshold():
    """Alpha >= 128 is inside: anti-aliased edges below half opacity are not the label."""
    flat = np.zeros((1, 3, 4), dtype=np.uint8)
    flat[0, :, 3] = [127, 128, 255]
    rle = [int(v) for v in encode_rle(flat.ravel())]
    assert pp.mask_from_brush(rle, 3, 1).tolist() == [[False, True, True]]


def stroke_rles(width: int, height: int, seed: int) -> dict[str, list[int]]:
    """The same random blobs as the benchmark's two RLE styles: grey (repeat runs, several strides in a
    periodic pattern) and coloured (long stretches of 14-bit literal runs, one per value)."""
    rnd = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    blob = np.zeros((height, width), dtype=bool)
    for _ in range(rnd.integers(1, 5)):
        cx, cy, r = rnd.uniform(0, width), rnd.uniform(0, height), rnd.uniform(2, max(3, width / 3))
        blob |= (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
    out = {}
    for style, colour in (("grey", (255, 255, 255, 255)), ("coloured", (220, 40, 90, 255))):
        rgba = np.zeros((height, width, 4), dtype=np.uint8)
        rgba[blob] = colour
        out[style] = [int(v) for v in encode_rle(rgba.ravel())]
    return out


@pytest.mark.parametrize("seed", range(12))
def test_decode_matches_reference_on_strokes(seed):
    """Both styles, sizes from tiny to a few hundred pixels wide: uniform stretches short and long."""
    width, height = [(7, 5), (40, 30), (150, 60), (300, 40)][seed % 4]
    for rle in stroke_rles(width, height, seed).values():
        np.testing.assert_array_equal(pp.decode_brush_rle(rle), decode_rle(rle))


def test_decode_matches_reference_on_every_prefix():
    """Cut anywhere, including inside a long uniform stretch and inside the last headers: equal or both refuse."""
    rles = stroke_rles(24, 6, 3)
    for rle in rles.values():
        for cut in range(len(rle) + 1):
            assert_same_as_reference(rle[:cut])


@pytest.mark.parametrize("declared", [0, 1, 5, 100, 1000, 4 * 24 * 6 - 1, 4 * 24 * 6 + 1, 10**6])
def test_decode_honours_the_declared_size(declared):
    """The walk stops at the declared number of values (extra runs are ignored, a literal run crossing it is an
    error, too few runs are an error), exactly where the reference does."""
    for rle in stroke_rles(24, 6, 5).values():
        assert_same_as_reference(list(declared.to_bytes(4, "big")) + rle[4:])


def test_decode_long_uniform_stretch_to_the_end():
    """A stream that is one uniform stretch of literal runs up to its last bits (into the careful tail)."""
    for size in (1, 2, 3, 50, 1001):
        flat = np.arange(size, dtype=np.uint8) % 2 + 7
        assert_same_as_reference([int(v) for v in encode_rle(flat)])
        assert_same_as_reference([int(v) for v in encode_rle(np.repeat(flat, 300))])


def test_decode_matches_reference_on_captured_fixtures():
    """Every brush RLE Label Studio wrote in the captured target-storage objects (the webhook captures hold a
    placeholder, not a real stream)."""
    rles = []

    def collect(node):
        if isinstance(node, dict):
            if isinstance(node.get("rle"), list):
                rles.append(node["rle"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for path in sorted((ROOT / "tests" / "fixtures" / "ls_storage").rglob("*")):
        if path.is_file() and path.suffix in ("", ".json"):
            collect(json.loads(path.read_text()))
    assert len(rles) >= 4
    for rle in rles:
        np.testing.assert_array_equal(pp.decode_brush_rle(rle), decode_rle(rle))


# ---------------------------------------------------------------------------------------------- polygons


def px(points_percent, width, height):
    return pp.percent_points_to_pixels(points_percent, width, height)[0]


def counts(mask: np.ndarray) -> dict[int, int]:
    values, n = np.unique(mask, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, n, strict=True)}


def test_axis_aligned_square_golden():
    # 10%..50% of 100 px = [10, 50): pixel centres 10.5..49.5 -> 40 columns x 40 rows
    mask = pp.mask_from_polygons([(px([[10, 10], [50, 10], [50, 50], [10, 50]], 100, 100), 1)], 100, 100)
    assert counts(mask) == {0: 10000 - 1600, 1: 1600}
    assert mask[10, 10] == 1 and mask[49, 49] == 1 and mask[50, 50] == 0 and mask[9, 10] == 0


def test_right_triangle_golden_half_open_edges():
    # (0,0),(10,0),(0,10) on 10x10: row r holds columns c with c + 0.5 < 10 - (r + 0.5), i.e. 9 - r pixels;
    # centres exactly on the hypotenuse are outside (right edge), so 9+8+...+0 = 45.
    mask = pp.mask_from_polygons([(px([[0, 0], [100, 0], [0, 100]], 10, 10), 3)], 10, 10)
    assert counts(mask) == {0: 55, 3: 45}
    assert [int(row.sum() // 3) for row in mask] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]


def test_shared_edge_is_claimed_once():
    left = px([[0, 0], [50, 0], [50, 100], [0, 100]], 9, 4)  # x = 4.5: centre 4.5 goes right
    right = px([[50, 0], [100, 0], [100, 100], [50, 100]], 9, 4)
    mask = pp.mask_from_polygons([(left, 1), (right, 2)], 9, 4)
    assert counts(mask) == {1: 16, 2: 20}


def test_several_polygons_later_on_top():
    w, h = 20, 10
    polys = [
        (px([[0, 0], [50, 0], [50, 100], [0, 100]], w, h), 1),  # 10 x 10 = 100
        (px([[25, 0], [75, 0], [75, 100], [25, 100]], w, h), 2),  # columns 5..14 -> 100, over class 1
        (px([[90, 0], [100, 0], [100, 50], [90, 50]], w, h), 4),  # 2 x 5 = 10
    ]
    mask = pp.mask_from_polygons(polys, w, h)
    assert counts(mask) == {0: 200 - 50 - 100 - 10, 1: 50, 2: 100, 4: 10}


def test_self_intersecting_bowtie_uses_even_odd():
    # bow-tie over a 10x10 image: two triangles meeting at the centre
    mask = pp.mask_from_polygons([(px([[0, 0], [100, 100], [100, 0], [0, 100]], 10, 10), 1)], 10, 10)
    assert mask[5, 0] == 1 and mask[5, 9] == 1 and mask[0, 5] == 0 and mask[9, 5] == 0
    # row r < 5 holds columns [0, r) and [9 - r, 10): 2r + 1 pixels; rows 5..9 mirror it: 2 * 25 = 50,
    # the exact area; the half-open rule gives each row's pixel on a slanted edge to the right-hand wedge.
    assert [int(row.sum()) for row in mask] == [1, 3, 5, 7, 9, 9, 7, 5, 3, 1]


def test_matches_brute_force_point_in_polygon():
    """Random polygons: every pixel centre decided independently by the even-odd ray rule."""
    rng = np.random.default_rng(7)
    for _ in range(25):
        n = rng.integers(3, 9)
        pts = rng.uniform(-5, 105, size=(n, 2))
        w, h = int(rng.integers(5, 40)), int(rng.integers(5, 40))
        pixels = px(pts.tolist(), w, h)
        got = pp.mask_from_polygons([(pixels, 1)], w, h).astype(bool)
        cy, cx = np.mgrid[0:h, 0:w] + 0.5
        inside = np.zeros((h, w), dtype=bool)
        for i in range(n):
            (x0, y0), (x1, y1) = pixels[i], pixels[(i + 1) % n]
            if y0 == y1:
                continue
            cross = (np.minimum(y0, y1) <= cy) & (cy < np.maximum(y0, y1))
            x_at = x0 + (cy - y0) * (x1 - x0) / (y1 - y0)
            inside ^= cross & (x_at <= cx)
        np.testing.assert_array_equal(got, inside)


def test_points_outside_are_clipped_and_counted():
    pixels, clipped = pp.percent_points_to_pixels([[-10, 50], [110, 50], [50, 120]], 10, 10)
    assert clipped == 3
    assert pixels.min() >= 0 and pixels[:, 0].max() <= 10 and pixels[:, 1].max() <= 10


def test_malformed_points_are_an_error():
    with pytest.raises(ValueError):
        pp.percent_points_to_pixels([[1, 2], ["a", 3], [4]], 10, 10)


# ---------------------------------------------------------------------------------------------- PNG writer


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (768, 1024)])
def test_png_writer_round_trips_through_pillow(shape):
    import io

    from PIL import Image

    rng = np.random.default_rng(3)
    mask = rng.choice(np.array([0, 1, 2, 4, 255], dtype=np.uint8), size=shape)
    mask[: shape[0] // 2] = 0  # long runs too
    decoded = Image.open(io.BytesIO(pp.encode_png_gray8(mask)))
    assert decoded.format == "PNG" and decoded.mode == "L" and decoded.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(decoded), mask)


def test_class_pixel_counts_equal_bincount():
    mask = np.random.default_rng(4).choice(np.array([0, 1, 3, 255], dtype=np.uint8), size=(50, 60))
    assert pp.class_pixel_counts(mask, 4) == np.bincount(mask.ravel(), minlength=256).tolist()
