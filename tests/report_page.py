"""Reading a downloaded report back: the number, its images, and anything that would
need the network (there must be none)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReportPage:
    number: str = ""
    heatmaps: int = 0
    variations: int = 0
    external: int = 0  # images or links that would need the network


def parse_report(text: str) -> ReportPage:
    from html.parser import HTMLParser

    page = ReportPage()

    class Reader(HTMLParser):
        in_number = False

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.in_number = attrs.get("id") == "number"
            if tag == "img":
                page.heatmaps += attrs.get("class") == "heatmap"
                page.variations += attrs.get("class") == "variations"
                page.external += not attrs.get("src", "").startswith("data:image/png;base64,")
            if tag in ("script", "link") or (tag == "a" and "href" in attrs):
                page.external += 1

        def handle_data(self, data):
            if self.in_number:
                page.number += data.strip()

        def handle_endtag(self, tag):
            self.in_number = False

    Reader().feed(text)
    return page
