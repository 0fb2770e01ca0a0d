"""The line reader joined to the per-digit reading: CTC scores, aligned cuts, geometry,
and the studio reading touching numbers of writers no model saw."""

import numpy as np
import pytest
import torch

from src.models.line_reader import BLANK, STRIDE, DecodedDigit, LineReader, LineReaderConfig
from src.reading.cuts import aligned_cut
from src.reading.fusion import IMPOSSIBLE, ctc_log_likelihoods
from src.reading.line_view import LineStrip, LineView, assign_digits, line_ink, view_lines
from src.reading.regions import Region


def outputs(path: list[int], sure: float = 0.95) -> torch.Tensor:
    """(T, 11) log-probabilities whose best path is `path`."""
    probs = torch.full((len(path), 11), (1 - sure) / 10)
    probs[torch.arange(len(path)), torch.tensor(path)] = sure
    return probs.log()


def test_ctc_prefers_the_reading_the_columns_show():
    columns = outputs([BLANK, 3, 3, BLANK, BLANK, 4, 4, BLANK])
    scores = ctc_log_likelihoods([columns] * 4, [[3, 4], [4], [3], [3, 4, 4]])
    assert scores[0] == scores.max()
    assert scores[0] > -1.0 and scores[1] < scores[0] - 3 and scores[3] < scores[0] - 3


def test_ctc_calls_a_reading_too_long_for_its_columns_impossible():
    scores = ctc_log_likelihoods([outputs([1, BLANK]), outputs([1, BLANK])], [[1], [1, 1]])
    assert scores[0] > IMPOSSIBLE and scores[1] == IMPOSSIBLE
    assert len(ctc_log_likelihoods([], [])) == 0


def two_blobs(gap: int = 4) -> Region:
    """Two 20x20 squares of ink `gap` columns apart, joined by a thin stroke."""
    mask = np.zeros((20, 40 + gap), np.float32)
    mask[:, :20] = 1.0
    mask[:, 20 + gap :] = 1.0
    mask[9:11, 18 : 22 + gap] = 1.0  # a stroke joins them, thinner than either
    return Region((100, 50, 140 + gap, 70), mask)


def view_with_digits(centres_x: list[float]) -> LineView:
    """A view whose digits sit at the given working x (one time step = 1 px)."""
    strip = LineStrip(np.zeros((32, 400), np.float32), x0=0, factor=STRIDE)
    digits = []
    for label, x in enumerate(centres_x):
        step = round(x - 0.5)
        digits.append(DecodedDigit(label, 0.9, (step, step)))
    return LineView(strip, 0, torch.zeros(100, 11), digits)


def test_aligned_cut_follows_the_line_readers_boundaries():
    region = two_blobs()
    view = view_with_digits([110.0, 134.0])
    pieces = aligned_cut(region, view, view.digits)
    assert len(pieces) == 2
    (_, left), (_, right) = pieces
    assert left[0] == 100 and right[2] == 144 and left[2] == right[0]
    assert 120 <= left[2] <= 123  # in the thin join, not through either square


def test_digits_go_to_the_region_they_fall_in():
    regions = [
        Region((0, 0, 30, 20), np.ones((20, 30))),
        Region((50, 0, 90, 20), np.ones((20, 40))),
    ]
    view = view_with_digits([10.0, 60.0, 80.0, 200.0])
    held = assign_digits(view, regions)
    assert [[d.label for d in h] for h in held] == [[0], [1, 2, 3]]


def test_line_ink_keeps_only_the_regions_and_their_place():
    regions = [
        Region((10, 5, 20, 15), np.ones((10, 10))),
        Region((30, 8, 35, 20), np.ones((12, 5))),
    ]
    ink, left = line_ink(regions, (40, 60))
    assert left == 10 and ink.shape == (15, 25)
    assert ink.sum() == 100 + 60


def test_view_lines_maps_time_steps_back_to_the_drawing():
    torch.manual_seed(0)
    reader = LineReader(LineReaderConfig(channels=4, hidden=8)).eval()
    short = [Region((200, 10, 260, 70), np.ones((60, 60), np.float32))]
    long = [Region((0, 100, 300, 160), np.ones((60, 300), np.float32))]
    views = view_lines(reader, [short, long], (200, 400))
    assert [len(v.log_probs) for v in views] == [v.strip.image.shape[1] // STRIDE for v in views]
    for view, (x0, x1) in zip(views, [(200, 260), (0, 300)], strict=True):
        first, last = view.step_x(0), view.step_x(len(view.log_probs) - 1)
        assert first < x0 + 0.1 * (x1 - x0) and last > x1 - 0.1 * (x1 - x0)
        assert view.steps_within(x0, x1)[1] - view.steps_within(x0, x1)[0] >= 0.8 * (
            len(view.log_probs) - 2
        )


# ------------------------------------------------------------------- shipped models


@pytest.mark.integration
def test_studio_reads_touching_numbers_of_unseen_writers_with_boxes_in_order():
    from src.studio import Studio
    from tests.conftest import touching_test_numbers

    drawings = touching_test_numbers(20, seed=7)
    studio = Studio.load()
    assert studio.line_reader is not None
    right = 0
    for drawing in drawings:
        reading = studio.read(drawing.image)
        right += reading.text == drawing.text
        h, w = drawing.image.shape[:2]
        for digit in reading.digits:
            x0, y0, x1, y1 = digit.box
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        starts = [d.box[0] for d in reading.digits]
        assert starts == sorted(starts)
    assert right >= 14  # of 20; without the line reader about a quarter are read right


@pytest.mark.integration
def test_touching_example_is_read_flagged_and_explained_over_its_line():
    """assets/examples/9175.png: a test writer's 9175 whose 1 runs into the 7; the
    classifier alone reads 975."""
    from src.studio import LINE_METHOD, Studio
    from tests.conftest import ROOT

    studio = Studio.load()
    image = ROOT / "assets/examples/9175.png"
    alone = Studio(studio.classifier, None, studio.segment).read(image)
    analysis = studio.analyze(image, method=LINE_METHOD, n_variations=2)
    reading = analysis.reading
    assert reading.text == "9175" and alone.text != "9175"
    flagged = [d for d in reading.digits if d.alternative]
    assert flagged and all(d.uncertain for d in flagged)
    # The alternative shown is the classifier's reading of that stretch of ink, which
    # misses the 1 run into the 7.
    assert all(d.alternative.isdigit() and "1" not in d.alternative for d in flagged)
    # One heatmap per digit over the whole line; each is hottest inside its digit.
    assert len(analysis.heatmaps) == 4 and len(analysis.variations) == 4
    widths = {h.shape[1] for h in analysis.heatmaps}
    assert len(widths) == 1 and widths.pop() > 1.2 * analysis.heatmaps[0].shape[0]
    for digit, heat in zip(reading.digits, analysis.heatmaps, strict=True):
        # Where is the overlay most unlike grey ink on white? Its hottest column.
        colour = heat.astype(float).std(axis=2).sum(axis=0)
        view = reading.line_views[digit.line]
        x = view.strip.x0 + view.left  # working x of strip column STRIDE
        column = int(colour.argmax()) * view.strip.image.shape[0] / heat.shape[0]
        hottest_x = (x + (column - STRIDE) / view.strip.factor) / reading.scale
        x0, _, x1, _ = digit.box
        assert x0 - 0.25 * (x1 - x0) <= hottest_x <= x1 + 0.25 * (x1 - x0)
