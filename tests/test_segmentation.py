import re
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageDraw
from scipy import ndimage

from src.reading.ink import pen_width, stroke_ink
from src.reading.line_view import line_ink
from src.reading.raster import components, distance_to, enlarged, grown, interior, window_max
from src.reading.regions import labelled, without_paper_lines
from src.utils.segmentation import (
    DrawingError,
    SegmentConfig,
    find_digit_regions,
    ink_map,
    normalize_digit,
    redraw_strokes,
    thin,
)


def drawing(shapes, size=(200, 400), width=8):
    """White canvas, black strokes: shapes are lists of points (polylines)."""
    image = Image.new("L", size[::-1], 255)
    draw = ImageDraw.Draw(image)
    for points in shapes:
        draw.line(points, fill=0, width=width)
    return np.array(image)


ONE = [(60, 40), (60, 160)]
ZERO = [(150, 40), (190, 40), (190, 160), (150, 160), (150, 40)]


# ------------------------------------------------------------------------------- ink map


def test_polarity_and_formats_agree():
    dark_on_light = drawing([ONE, ZERO])
    expected = ink_map(dark_on_light) > 0.5
    assert expected.sum() > 500
    assert np.array_equal(ink_map(255 - dark_on_light) > 0.5, expected)  # light on dark
    rgb = np.repeat(dark_on_light[..., None], 3, axis=2)
    assert np.array_equal(ink_map(rgb) > 0.5, expected)
    assert np.array_equal(ink_map(Image.fromarray(rgb)) > 0.5, expected)
    assert np.array_equal(ink_map(dark_on_light.astype(np.float64) / 255) > 0.5, expected)


def test_transparent_canvas_uses_alpha_not_rgb():
    ink = drawing([ONE]) < 128
    rgba = np.random.default_rng(0).integers(0, 256, ink.shape + (4,), dtype=np.uint8)
    rgba[..., 3] = np.where(ink, 255, 0)  # garbage RGB under transparent pixels
    assert np.array_equal(ink_map(rgba) > 0.5, ink)


def test_sketchpad_dict_layers_and_composite():
    ink = drawing([ONE]) < 128
    layer = np.zeros(ink.shape + (4,), np.uint8)
    layer[ink] = (20, 20, 20, 255)
    background = np.full(ink.shape + (4,), 255, np.uint8)
    from_layers = ink_map({"background": background, "layers": [layer], "composite": None})
    assert np.array_equal(from_layers > 0.5, ink)
    assert np.array_equal(
        ink_map({"background": None, "layers": [layer], "composite": None}) > 0.5, ink
    )
    assert np.array_equal(ink_map({"composite": layer}) > 0.5, ink)
    assert not ink_map({"background": None, "layers": [], "composite": None}).any()


def test_path_input_and_bad_inputs(tmp_path):
    path = tmp_path / "d.png"
    Image.fromarray(drawing([ONE])).save(path)
    assert (ink_map(path) > 0.5).sum() > 100
    (tmp_path / "cat.txt").write_text("meow")
    with pytest.raises(DrawingError, match="not an image"):
        ink_map(tmp_path / "cat.txt")
    with pytest.raises(DrawingError, match="unsupported input type"):
        ink_map(42)
    with pytest.raises(DrawingError, match="expected an image"):
        ink_map(np.zeros((4, 4, 7)))


def test_bad_files_get_a_sentence_and_odd_images_are_read(tmp_path):
    """The files of tests/bad_files.py straight through ink_map: a DrawingError naming
    the problem, or an ink map (16-bit grey, CMYK JPEG, first frame of a GIF)."""
    from tests.bad_files import write_cases

    for case in write_cases(tmp_path):
        if case.message and case.message != "nothing drawn":
            with pytest.raises(DrawingError, match=re.escape(case.message)):
                ink_map(case.path)
        else:
            ink = ink_map(case.path)
            assert ink.dtype == np.float32 and ink.min() >= 0.0 and ink.max() <= 1.0
            assert (ink > 0.5).any() == bool(case.text), case.path.name


# ------------------------------------------------------------------------------- regions


def test_regions_left_to_right_and_lines_in_order():
    top = [[(300, 20), (300, 80)], [(100, 20), (100, 80)]]
    bottom = [[(50, 130), (50, 190)]]
    ink = ink_map(drawing(top + bottom))
    regions = find_digit_regions(ink, SegmentConfig()).regions
    assert [r.line for r in regions] == [0, 0, 1]
    assert regions[0].box[0] < regions[1].box[0]
    assert regions[2].box[1] > regions[0].box[3]


def test_pieces_of_one_digit_merge():
    five = [[(40, 100), (40, 60), (80, 60), (80, 100), (40, 100)], [(45, 30), (90, 30)]]
    regions = find_digit_regions(ink_map(drawing(five)), SegmentConfig()).regions
    assert len(regions) == 1  # body and lifted top bar are one digit


def test_a_digit_broken_into_upper_and_lower_halves_far_from_others_is_one_digit():
    """A scanned 3 whose stroke broke at its waist leaves two short pieces, each under
    half a digit's height and too far from its neighbours to join them: one digit."""
    upper = [(280, 40), (320, 40), (320, 90), (290, 90)]
    lower = [(290, 112), (320, 112), (320, 160), (280, 160)]
    ink = ink_map(drawing([ONE, ZERO, upper, lower]))
    regions = find_digit_regions(ink, SegmentConfig()).regions
    assert len(regions) == 3
    assert regions[2].box[1] < 45 and regions[2].box[3] > 155


def test_a_blot_far_from_the_digits_is_left_out_not_read_as_a_digit():
    """A mark under half the digits' height both ways, at mid-height (so no point or
    comma) and too far from every digit to be a piece of one, is no digit."""
    image = drawing([ONE, ZERO])
    image[90:110, 300:316] = 0  # a blot 16x20 px beside 128 px tall digits
    segmentation = find_digit_regions(ink_map(image), SegmentConfig())
    assert len(segmentation.regions) == 2
    assert segmentation.marks_left_out == 1 and segmentation.marks == []


def test_a_stroke_broken_into_dashes_is_one_mark_and_neighbours_stay_apart():
    """A thin pen scanned small comes out as dashes: marks less than `bridge_gap` pen
    widths apart are one piece of ink, while written neighbours stay two digits."""
    image = drawing([ONE, ZERO], width=6)
    image[:, 168:172] = 255  # the 0 broken at top and bottom into two tall halves
    whole = find_digit_regions(ink_map(image), SegmentConfig()).regions
    assert [r.box[0] < 100 for r in whole] == [True, False]  # the 1, then the 0
    assert whole[1].width > 35
    as_it_is = find_digit_regions(ink_map(image), SegmentConfig(bridge_gap=0)).regions
    assert len(as_it_is) == 3


def test_a_dotted_stroke_in_a_tiny_picture_is_joined_but_a_drawing_keeps_its_gaps():
    """A thin pen binarised at 16x16 (as Semeion stores digits) leaves a digit as dots:
    once bridged into one digit they are joined by strokes along a spanning tree (so a
    dotted ring becomes one stroke, open at one gap), since thinned dots are redrawn as
    dots. A grey picture's pieces (a blurred scan's) and a drawing's stay as they are."""
    yy, xx = np.mgrid[:16, :16]
    ring = np.abs(np.hypot(yy - 7.5, xx - 7.5) - 5.5) < 0.6
    dotted = ring & ((yy + xx) % 3 != 0)  # every third pixel along the ring missing
    eight = np.ones((3, 3))
    assert ndimage.label(dotted, structure=eight)[1] > 1
    image = np.where(dotted, 0, 255).astype(np.uint8)
    (region,) = find_digit_regions(ink_map(image), SegmentConfig()).regions
    assert ndimage.label(region.mask > 0, structure=eight)[1] == 1
    shades = np.random.default_rng(0).uniform(0.55, 0.9, dotted.shape)
    grey = np.where(dotted, 255 * (1 - shades), 255).astype(np.uint8)
    (region,) = find_digit_regions(ink_map(grey), SegmentConfig()).regions
    assert ndimage.label(region.mask > 0, structure=eight)[1] > 1
    drawn = drawing([ONE, ZERO], width=6)
    drawn[:, 168:172] = 255  # the 0 broken at top and bottom: bridged, not joined
    zero = find_digit_regions(ink_map(drawn), SegmentConfig()).regions[1]
    assert ndimage.label(zero.mask > 0, structure=eight)[1] == 2


def test_specks_are_dropped():
    image = drawing([ONE])
    image[10:12, 300:302] = 0  # a 2x2 speck far away
    regions = find_digit_regions(ink_map(image), SegmentConfig()).regions
    assert len(regions) == 1


def test_a_dash_point_or_comma_apart_from_the_digits_is_not_read():
    """-1 0, 1.0 and 1,0 hold two digits, and each mark is known for what it is; a flat
    or small mark that joins a digit, or sits where a lifted 5 bar would, is still part
    of it."""
    dash = [(10, 100), (40, 100)]  # flat, mid-height, left of the 1 (at x = 60)
    point = [(96, 154), (113, 154)]  # small, at the foot, between the 1 and the 0
    comma = [(108, 150), (100, 178)]
    for mark, kind in ((dash, "-"), (point, "."), (comma, ",")):
        ink = ink_map(drawing([ONE, ZERO, mark]))
        segmentation = find_digit_regions(ink, SegmentConfig())
        regions = segmentation.regions
        assert [r.box[0] < 100 for r in regions] == [True, False], mark
        assert [m.kind for m in segmentation.marks] == [kind]  # kept to show as written
        assert regions[0].width < 20  # the mark was not merged into the 1
        every = find_digit_regions(ink, SegmentConfig(skip_marks=False)).regions
        assert len(every) == 3 or every[0].width > 20  # read, or merged into the 1
    bar_beside = [(70, 42), (95, 42)]  # flat and apart, but at the digits' top
    ink = ink_map(drawing([ONE, ZERO, bar_beside]))
    regions = find_digit_regions(ink, SegmentConfig()).regions
    assert len(regions) == 2 and regions[0].width > 20  # joined the 1, as a flag would


def test_a_larger_blank_canvas_moves_the_boxes_and_changes_nothing_else():
    """Regions are found within the ink's box (a sketchpad is mostly blank): the same
    strokes, a faint one and a dash, drawn further into a larger canvas, give the same
    regions, crops and signs, their boxes moved by the offset."""
    shapes = [ONE, ZERO, [(10, 100), (40, 100)]]
    tight = drawing(shapes)
    tight[100:104, 150:200] = np.minimum(tight[100:104, 150:200], 200)  # a faint stroke
    dx, dy = 130, 70
    wide = np.full((tight.shape[0] + 2 * dy, tight.shape[1] + 3 * dx), 255, np.uint8)
    wide[dy : dy + tight.shape[0], dx : dx + tight.shape[1]] = tight
    near, far = (find_digit_regions(ink_map(d), SegmentConfig()) for d in (tight, wide))
    assert len(near.regions) == 2 and far.ink.shape == wide.shape
    for a, b in zip(near.regions, far.regions, strict=True):
        assert b.box == (a.box[0] + dx, a.box[1] + dy, a.box[2] + dx, a.box[3] + dy)
        assert np.array_equal(a.mask, b.mask) and (a.line, a.tilt) == (b.line, b.tilt)
    assert [(m.kind, m.box[0] + dx, m.box[1] + dy) for m in near.marks] == [
        (m.kind, m.box[0], m.box[1]) for m in far.marks
    ]
    assert [m.kind for m in far.marks] == ["-"]


@settings(max_examples=60, deadline=None)
@given(
    arrays(bool, st.tuples(st.integers(1, 40), st.integers(1, 40))),
    st.integers(1, 12),
    st.lists(st.integers(0, 30), max_size=12),
)
def test_the_fast_mask_helpers_are_exactly_scipys_and_numpys(mask, reach, ids):
    """The OpenCV and numpy stand-ins for scipy's labelling, dilation, erosion and max
    filter and for `np.isin` give their answers pixel for pixel, labels in the same order:
    they are there only to be faster."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    ours, our_count = components(mask)
    assert our_count == count and ours.dtype == np.int32 and np.array_equal(ours, labels)
    assert np.array_equal(grown(mask, reach), ndimage.maximum_filter(mask, size=2 * reach + 1))
    cross = ndimage.generate_binary_structure(2, 1)
    assert np.array_equal(interior(mask), ndimage.binary_erosion(mask, cross, border_value=0))
    values = np.where(mask, np.arange(mask.size).reshape(mask.shape) % 7 / 7, 0.0)
    for dtype in (np.float32, np.float64):
        expected = ndimage.maximum_filter(values.astype(dtype), size=2 * reach + 1)
        assert np.array_equal(window_max(values.astype(dtype), reach), expected)
    assert np.array_equal(labelled(labels, ids), np.isin(labels, ids))


@given(arrays(bool, st.tuples(st.integers(1, 70), st.integers(1, 70))))
def test_distances_to_strokes_are_scipys_to_float32s_precision(mask):
    """The distance from every pixel to the nearest stroke pixel (what redrawing a pen
    and restyle's strokes are made of) is scipy's exact Euclidean transform."""
    assume(mask.any())
    expected = ndimage.distance_transform_edt(~mask)
    ours = distance_to(mask)
    assert ours.dtype == np.float32 and ours.shape == mask.shape
    assert np.allclose(ours, expected, rtol=1e-6, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 60), st.integers(2, 60), st.integers(1, 9), st.integers(1, 9))
def test_enlarging_matches_pils_bilinear_to_the_last_place(h, w, up_h, up_w):
    """The photo background's enlarging is PIL's bilinear resize to within float32's
    last place, whatever the factor; shrinking is refused (PIL's filter widens then)."""
    values = np.random.default_rng(h * 61 + w).random((h, w)).astype(np.float32)
    size = (w * up_w + up_w // 2, h * up_h)  # whole and broken factors
    expected = np.asarray(Image.fromarray(values).resize(size, Image.BILINEAR))
    assert np.allclose(enlarged(values, *size), expected, rtol=0, atol=2.5e-7)
    with pytest.raises(ValueError):
        enlarged(values, w - 1, h)


def test_labels_keep_scipys_order_on_a_large_noisy_mask():
    """Components are numbered by their first pixel in a raster scan, as scipy numbers
    them, also where thousands of them merge and split along the way."""
    mask = np.random.default_rng(0).random((1200, 1500)) < 0.3
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    ours, our_count = components(mask)
    assert our_count == count > 1000 and np.array_equal(ours, labels)


def test_a_sign_close_to_a_digit_or_smaller_than_a_speck_is_still_a_sign():
    """A dash written close to a digit, within bridging reach, and a tapped point under
    the speck size are found among the marks as drawn, so 1-0 and 1.0 show their sign;
    a bar detached inside a 7's columns is the 7's crossbar, not a dash."""
    close_dash = [(70, 100), (138, 100)]  # 4 px of paper from the 1 and the 0's ink
    ink = ink_map(drawing([ONE, ZERO, close_dash]))
    segmentation = find_digit_regions(ink, SegmentConfig())
    assert [m.kind for m in segmentation.marks] == ["-"] and len(segmentation.regions) == 2
    assert segmentation.regions[0].width < 20  # the dash was not bridged into the 1
    tapped_point = drawing([ONE, ZERO])
    tapped_point[154:162, 101:109] = 0  # 8 px: under 12% of the digits' height
    segmentation = find_digit_regions(ink_map(tapped_point), SegmentConfig())
    assert [m.kind for m in segmentation.marks] == ["."] and len(segmentation.regions) == 2
    seven = [(250, 40), (310, 40), (270, 160)]
    crossbar = [(258, 100), (276, 100)]  # left of the stem (at x = 290), 6 px of paper
    segmentation = find_digit_regions(ink_map(drawing([ONE, seven, crossbar])), SegmentConfig())
    assert segmentation.marks == [] and len(segmentation.regions) == 2


def test_a_line_under_the_digits_is_not_read_even_when_close_or_touching():
    """An underline clear of the digits but closer than the bridging reach is left out
    before bridging, one through their feet is cut away from them; a bar as wide as one
    digit (a 5's, a 7's) is still part of it."""
    underline = [(40, 172), (200, 174)]  # 3 px under the 1 and the 0 (foot at 164)
    ink = ink_map(drawing([ONE, ZERO, underline]))
    regions = find_digit_regions(ink, SegmentConfig()).regions
    assert len(regions) == 2 and all(r.box[3] < 170 for r in regions)
    every = find_digit_regions(ink, SegmentConfig(skip_marks=False)).regions
    assert any(r.box[3] > 170 for r in every)
    another_one = [(260, 40), (260, 160)]
    through_feet = [(20, 160), (300, 160)]  # touching all three: one mark with them
    ink = ink_map(drawing([ONE, ZERO, another_one, through_feet]))
    segmentation = find_digit_regions(ink, SegmentConfig())
    assert len(segmentation.regions) == 3 and segmentation.marks_left_out == 1
    assert all(r.width < 60 for r in segmentation.regions)  # cut free of it
    under_two = [(30, 160), (215, 160)]  # 193 px: under two digits, not 2x their height
    segmentation = find_digit_regions(ink_map(drawing([ONE, ZERO, under_two])), SegmentConfig())
    assert len(segmentation.regions) == 2 and segmentation.marks_left_out == 1
    assert all(r.width < 60 for r in segmentation.regions)
    five_bar = [(150, 20), (195, 20)]  # over the 0 only, 45 px wide
    regions = find_digit_regions(ink_map(drawing([ONE, ZERO, five_bar])), SegmentConfig()).regions
    assert len(regions) == 2 and regions[1].box[1] < 30


def pencil(shapes, darkness, size=(200, 400), width=8):
    """Ink of strokes drawn with the given darkness each (1 = full ink)."""
    ink = np.zeros(size, np.float32)
    for points, dark in zip(shapes, darkness, strict=True):
        ink = np.maximum(ink, dark * (drawing([points], size, width) < 128))
    return ink


def test_a_faint_stroke_that_continues_a_dark_one_is_kept_at_its_own_width():
    """A 7 whose bar was drawn with little pressure (ink 0.2, under the 0.35 threshold)
    keeps its bar, as wide as it was drawn; the dark stem does not grow."""
    stem, bar = [(200, 60), (170, 170)], [(120, 60), (200, 60)]
    ink = ndimage.gaussian_filter(pencil([stem, bar], [1.0, 0.2]), 1.0)
    (region,) = find_digit_regions(ink, SegmentConfig()).regions
    assert region.box[0] < 125  # the bar's left end is in the digit
    (dark_only,) = find_digit_regions(ink, SegmentConfig(faint=0.0)).regions
    assert dark_only.box[0] > 160
    bar_rows = np.flatnonzero(stroke_ink(ink, 0.35, 0.08)[:, 130])
    assert 6 <= len(bar_rows) <= 10  # drawn 8 px wide, a soft edge either side
    stem_row = ink[120]
    assert (stroke_ink(ink, 0.35, 0.08)[120] > 0).sum() == (stem_row >= 0.35).sum()


def test_faint_marks_alone_are_not_ink():
    """Paper grain or a shadow as faint as a light stroke, touching no dark ink, is left
    out; so is a light stroke when `faint` is off."""
    ink = pencil([ONE, ZERO], [1.0, 0.2])
    regions = find_digit_regions(ink, SegmentConfig()).regions
    assert len(regions) == 1 and regions[0].box[2] < 100  # the 1 alone
    assert np.array_equal(stroke_ink(ink, 0.35, 0.0) > 0, ink >= 0.35)


def test_a_small_picture_is_read_at_the_scale_drawings_are():
    """A 28x28 digit from a dataset is enlarged to 84 px, as MNIST's studio views are,
    so the lifted bar of its 5 (10 pixels) is not taken for a speck."""
    image = Image.new("L", (28, 28), 0)
    pen = ImageDraw.Draw(image)
    pen.line([(10, 10), (10, 15), (16, 15), (17, 19), (15, 22), (9, 22)], fill=255, width=2)
    pen.line([(13, 5), (17, 5)], fill=255, width=2)
    ink = ink_map(np.asarray(image))
    enlarged = find_digit_regions(ink, SegmentConfig())
    assert enlarged.scale == 3.0 and len(enlarged.regions) == 1
    assert enlarged.regions[0].box[1] / 3 < 6  # the bar is part of the digit
    as_given = find_digit_regions(ink, SegmentConfig(min_side=0))
    assert as_given.scale == 1.0 and as_given.regions[0].box[1] >= 9  # bar dropped


def test_a_small_binarised_picture_bridges_a_break_of_three_pixels():
    """A thin 4 stored at 16x16 and binarised, its bar broken for three pixels: two tall
    halves side by side, which read as "11" unless the break is bridged. Enlarged
    pictures bridge twice as far (`bridge_small`); a drawing's gaps stay as they were."""
    four = np.zeros((16, 16), np.uint8)
    four[2:11, 3] = four[10, 3:6] = 255  # the left stroke and the start of the bar
    four[10, 9:13] = four[3:15, 11] = 255  # the bar's end and the stem
    assert len(find_digit_regions(ink_map(four), SegmentConfig()).regions) == 1
    unbridged = find_digit_regions(ink_map(four), SegmentConfig(bridge_small=1.0)).regions
    assert len(unbridged) == 2
    big = np.asarray(Image.fromarray(four).resize((160, 160), Image.NEAREST))
    assert len(find_digit_regions(ink_map(big), SegmentConfig()).regions) == 2


def test_a_line_written_uphill_is_levelled_and_a_level_one_is_not():
    """Four 1s rising 12 degrees get their line's slope; the line reader's view of them
    is levelled column by column (every column keeps its ink), so the strip is about a
    digit tall, not a digit plus the rise. Level 1s, or two, are left as they are."""
    rise = np.tan(np.radians(12))
    ones = [
        [(60 + 70 * k, 150 - 70 * k * rise), (60 + 70 * k, 210 - 70 * k * rise)] for k in range(4)
    ]
    regions = find_digit_regions(ink_map(drawing(ones, size=(260, 400))), SegmentConfig()).regions
    assert len(regions) == 4
    assert all(abs(r.tilt + rise) < 0.03 for r in regions)  # y grows downwards: a rise < 0
    levelled, _ = line_ink(regions, (260, 400))
    as_drawn, _ = line_ink([replace(r, tilt=0.0) for r in regions], (260, 400))
    rows = np.flatnonzero(levelled.max(axis=1) > 0.5)
    assert rows[-1] - rows[0] < 75  # 60 px strokes, not 60 + the rise of 45 px
    assert np.flatnonzero(as_drawn.max(axis=1) > 0.5).size > 100
    assert np.allclose(levelled.sum(axis=0), as_drawn.sum(axis=0), rtol=0.02, atol=0.5)
    level_ones = [[(60 + 70 * k, 60), (60 + 70 * k, 120)] for k in range(4)]
    level_regions = find_digit_regions(ink_map(drawing(level_ones)), SegmentConfig()).regions
    assert all(r.tilt == 0.0 for r in level_regions)
    two = find_digit_regions(ink_map(drawing(ones[:2], size=(260, 400))), SegmentConfig())
    assert all(r.tilt == 0.0 for r in two.regions)
    off = find_digit_regions(
        ink_map(drawing(ones, size=(260, 400))), SegmentConfig(level_tilt_deg=0)
    )
    assert all(r.tilt == 0.0 for r in off.regions)


def test_too_many_marks_is_a_message_not_a_hang():
    image = np.full((300, 300), 255, np.uint8)
    image[5::10, 5::10] = 0
    image = ndimage.grey_erosion(image, size=4)  # 900 dots of 4x4
    segmentation = find_digit_regions(ink_map(image), SegmentConfig(max_components=64))
    assert segmentation.regions == []
    assert "more than 64" in segmentation.message


# ---------------------------------------------------------------------------- normalise


def test_normalized_digit_is_mnist_like():
    crop = (drawing([ZERO], width=10) < 128).astype(np.float32)[20:180, 130:210]
    digit = normalize_digit(crop, SegmentConfig())
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert digit.min() >= 0 and digit.max() <= 1
    ys, xs = np.nonzero(digit > 0.05)
    assert ys.max() - ys.min() + 1 <= 21 and xs.max() - xs.min() + 1 <= 21
    cy, cx = ndimage.center_of_mass(digit)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1


def test_thickness_is_normalized_whatever_the_brush():
    masses = []
    tall_zero = [(100, 60), (200, 60), (200, 300), (100, 300), (100, 60)]  # 240 px tall
    for brush in (3, 8, 16):  # 1% to 7% of the height: thinner than any MNIST pen
        crop = (drawing([tall_zero], size=(400, 400), width=brush) < 128).astype(np.float32)
        digit = normalize_digit(crop, SegmentConfig())
        masses.append(digit.sum())  # same shape, so ink mass tracks stroke width
    assert max(masses) / min(masses) < 1.25  # a mouse line and a felt pen come out alike


def test_without_redraw_the_writers_pen_width_stays():
    tall_zero = [(100, 60), (200, 60), (200, 300), (100, 300), (100, 60)]
    keep = SegmentConfig(redraw=False)
    thin_pen, marker = (
        normalize_digit(
            (drawing([tall_zero], size=(400, 400), width=w) < 128).astype(np.float32), keep
        )
        for w in (3, 30)
    )
    assert marker.sum() > 3 * thin_pen.sum()


def test_a_pen_in_mnists_range_is_kept_as_written():
    """Redrawing only loses shape when the pen is already one MNIST's digits have; a
    mouse line far thinner than that is still redrawn at the studio's width."""
    tall_zero = [(100, 60), (200, 60), (200, 300), (100, 300), (100, 60)]  # 240 px tall
    redraw_all = SegmentConfig(keep_pen_min=0.0, keep_pen_max=0.0, erode_fat_pens=False)
    keep, never = SegmentConfig(), SegmentConfig(redraw=False)

    def normalised(width: int, config: SegmentConfig) -> np.ndarray:
        crop = (drawing([tall_zero], size=(400, 400), width=width) < 128).astype(np.float32)
        return normalize_digit(crop, config)

    marker = 34  # 14% of the height: MNIST's own range
    assert np.array_equal(normalised(marker, keep), normalised(marker, never))
    assert not np.array_equal(normalised(marker, keep), normalised(marker, redraw_all))
    mouse = 3  # 1%: redrawn as before
    assert np.array_equal(normalised(mouse, keep), normalised(mouse, redraw_all))


def test_a_marker_fatter_than_mnists_pens_is_worn_down_not_thinned():
    """A pen far fatter than MNIST's (a marker 40% as wide as the ring it draws) is
    eroded to the top of MNIST's range: the hole it nearly filled opens up and the ring
    keeps its body, where thinning would redraw it as a new, thinner stroke."""
    canvas = Image.new("L", (500, 500), 0)
    ImageDraw.Draw(canvas).ellipse((50, 50, 450, 450), outline=255, width=160)
    ring = np.asarray(canvas, np.float32) / 255.0

    def view(config: SegmentConfig) -> np.ndarray:
        return normalize_digit(ring, config) > 0.5

    def hole_areas(mask: np.ndarray) -> list[int]:
        background, count = ndimage.label(~mask)
        edge = np.r_[background[0], background[-1], background[:, 0], background[:, -1]]
        inner = set(range(1, count + 1)) - set(np.unique(edge))
        return [int((background == k).sum()) for k in sorted(inner)]

    worn, drawn = view(SegmentConfig()), view(SegmentConfig(redraw=False))
    thinned = view(SegmentConfig(erode_fat_pens=False))
    assert len(hole_areas(worn)) == 1 and hole_areas(worn)[0] > 4 * sum(hole_areas(drawn))
    assert pen_width(worn) / 20 <= 0.3 < pen_width(drawn) / 20  # 20 px: the digit's box
    assert pen_width(thinned) < 0.75 * pen_width(worn)  # redrawn at the studio's width


def test_thinning_keeps_strokes_whole_and_loops_open():
    yy, xx = np.mgrid[:64, :64]
    radius = np.hypot(yy - 32, xx - 32)
    ring = (radius >= 14) & (radius <= 24)  # a 0 drawn with a 10 px marker
    skeleton = thin(ring)
    assert skeleton.sum() < 0.2 * ring.sum()
    assert ndimage.label(skeleton, np.ones((3, 3)))[1] == 1  # one stroke, not dots
    assert ndimage.label(~skeleton)[1] == 2  # the hole is still a hole
    assert (skeleton <= ring).all()


def test_thinning_a_batch_is_thinning_each():
    from src.reading.normalize import thin_each

    yy, xx = np.mgrid[:64, :64]
    ring = (np.hypot(yy - 32, xx - 32) >= 14) & (np.hypot(yy - 32, xx - 32) <= 24)
    bar = np.abs(yy - xx) <= 7
    edge = np.zeros((64, 64), bool)
    edge[:, -6:] = True  # touches the border its neighbour would join
    masks = np.stack([ring, bar, edge, np.zeros_like(ring), edge[:, ::-1]])
    batch = thin_each(masks)
    assert batch.shape == masks.shape
    assert all(np.array_equal(thin(m), b) for m, b in zip(masks, batch, strict=True))


def test_redrawn_thick_diagonal_stays_one_stroke():
    # A fat diagonal stroke: local maxima of the distance map come out as a dotted
    # line for such strokes; thinning must give one piece at the new width.
    yy, xx = np.mgrid[:64, :64]
    bar = np.abs(yy - xx) <= 7
    redrawn = redraw_strokes(bar, 4.0)
    assert ndimage.label(redrawn, np.ones((3, 3)))[1] == 1
    assert redrawn.sum() < 0.6 * bar.sum()


@pytest.mark.parametrize("shape", [(0, 0), (1, 1), (1, 500), (500, 1)])
def test_degenerate_crops(shape):
    digit = normalize_digit(np.ones(shape, np.float32), SegmentConfig())
    assert digit.shape == (28, 28) and np.isfinite(digit).all()


# ------------------------------------------------------------------- property-based tests

images = st.one_of(
    arrays(np.uint8, st.tuples(st.integers(1, 90), st.integers(1, 90))),
    arrays(np.uint8, st.tuples(st.integers(1, 60), st.integers(1, 60), st.sampled_from([3, 4]))),
    st.builds(lambda v, h, w: np.full((h, w), v, np.uint8), st.integers(0, 255),
              st.integers(1, 300), st.integers(1, 300)),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images)
def test_any_image_segments_without_raising(image):
    ink = ink_map(image)
    assert ink.shape == image.shape[:2] and np.isfinite(ink).all()
    segmentation = find_digit_regions(ink, SegmentConfig())
    h, w = segmentation.ink.shape
    previous = None
    for region in segmentation.regions:
        x0, y0, x1, y1 = region.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        key = (region.line, x0)
        assert previous is None or key >= previous
        previous = key
        assert normalize_digit(region.mask, SegmentConfig()).shape == (28, 28)


def squared(image, step=25, level=170, vertical=True):
    """`image` on squared (or, without vertical lines, ruled) paper: grey lines every
    `step` px, edge to edge, under the strokes."""
    paper = np.full(image.shape, 255, np.uint8)
    paper[step // 2 :: step, :] = level
    if vertical:
        paper[:, step // 2 :: step] = level
    return np.minimum(image, paper)


@pytest.mark.parametrize("vertical", [True, False])
def test_the_lines_of_squared_or_ruled_paper_are_not_ink(vertical):
    """Lines printed on the page run straight across it, edge to edge, several of
    them: left out, and the strokes that cross them kept whole. Read as ink, squared
    paper joined every digit into one mark."""
    image = drawing([ONE, ZERO])
    plain = find_digit_regions(ink_map(image), SegmentConfig()).regions
    for level in (200, 120):  # a pale grid and one nearly as dark as the pen
        regions = find_digit_regions(ink_map(squared(image, level=level, vertical=vertical)),
                                     SegmentConfig()).regions  # fmt: skip
        assert [r.box for r in regions] == [r.box for r in plain], level
        for r, p in zip(regions, plain, strict=True):
            assert ((r.mask > 0) == (p.mask > 0)).mean() > 0.97  # strokes kept whole


def test_a_line_of_a_turned_page_that_leaves_through_the_top_is_not_ink():
    """A ruled page filling a photo taken 4 degrees askew: near a corner a line leaves
    the frame through the top before it spans it, here across the top of a 1. That
    piece goes with the full lines; left in, it joined the 1 into a mark as wide as it."""
    image = drawing([[(60, 12), (60, 150)], ZERO])
    plain = find_digit_regions(ink_map(image), SegmentConfig()).regions
    y, x = np.mgrid[: image.shape[0], : image.shape[1]]
    across = y * np.cos(np.deg2rad(4)) + x * np.sin(np.deg2rad(4))
    ruled = np.minimum(image, np.where((across + 36) % 55 < 1.5, 170, 255).astype(np.uint8))
    regions = find_digit_regions(ink_map(ruled), SegmentConfig()).regions
    assert len(regions) == len(plain)
    for r, p in zip(regions, plain, strict=True):
        assert np.abs(np.subtract(r.box, p.box)).max() <= 3


def test_a_pale_line_thinner_than_a_pixel_on_a_turned_page_is_not_ink():
    """A pale ruled line (16% dark) under a pixel wide, the page turned 5 degrees: where
    it crosses between two rows each holds only half its darkness, under the faint
    level, so at that level it is dashes too short to be a line, and they stayed as
    ink beside the digits (joining those they touch). Found at half that level, it goes."""
    image = drawing([ONE, ZERO])
    y, x = np.mgrid[: image.shape[0], : image.shape[1]]
    across = (y * np.cos(np.deg2rad(5)) + x * np.sin(np.deg2rad(5))) % 23
    near = np.clip(1 - np.minimum(across, 23 - across), 0, 1)  # fading out over a pixel
    ruled = np.minimum(image, 255 * (1 - 0.16 * near)).astype(np.uint8)
    faint, ink = SegmentConfig().faint, ink_map(ruled)
    paper = (ink >= faint) & (ink_map(image) < faint)
    left = without_paper_lines(ink, faint)[paper] >= faint
    assert paper.sum() > 1000 and left.mean() < 0.05


def test_a_stroke_across_the_whole_picture_is_not_taken_for_a_paper_line():
    """A 1 cut tight to its ink runs from edge to edge, and so do the two of 11: fewer
    lines than a page shows, so they stay strokes."""
    for shapes, size in (([[(20, 0), (20, 120)]], (120, 40)),
                         ([[(20, 0), (20, 120)], [(60, 0), (60, 120)]], (120, 80))):  # fmt: skip
        image = drawing(shapes, size=size, width=6)
        regions = find_digit_regions(ink_map(image), SegmentConfig()).regions
        assert len(regions) == len(shapes)
