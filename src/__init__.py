"""Digit Insight Studio: read, explain and imagine handwritten numbers."""
