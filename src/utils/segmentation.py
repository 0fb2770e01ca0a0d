"""Segmentation, under the name the original layout gave it.

The code lives in `src/reading/`, one module per step of reading a drawing (ink, regions,
cuts, normalisation, the line reader's view, fusion); this module only gathers the
segmentation steps' public names for code written against that layout.
"""

from src.reading.config import SegmentConfig
from src.reading.cuts import cut_region, split_region
from src.reading.ink import MAX_PIXELS, DrawingError, ink_map
from src.reading.normalize import normalize_digit, redraw_strokes, studio_view, thin
from src.reading.regions import Region, Segmentation, find_digit_regions, typical_height

__all__ = [
    "MAX_PIXELS",
    "DrawingError",
    "Region",
    "SegmentConfig",
    "Segmentation",
    "cut_region",
    "find_digit_regions",
    "ink_map",
    "normalize_digit",
    "redraw_strokes",
    "split_region",
    "studio_view",
    "thin",
    "typical_height",
]
