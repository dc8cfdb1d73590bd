"""report.html: the report as one self-contained page (pictures inline, sortable tables)."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

from dd_tune.report.html import markdown_to_html

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


class Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


def test_the_page_keeps_headings_verdict_tables_and_inlines_pictures(tmp_path: Path):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "curves.png").write_bytes(PNG)
    md = "\n".join([
        "# Study `dm_mnist` (dm on mnist)", "",
        "> **Not a result.** A plumbing check.", "",
        "## IPC 1", "",
        "**Verdict.** On convnet the tuned configuration is better than DM's defaults by 5.34 points.", "",
        "| synthetic set | convnet test acc (%) |", "|---|---|",
        "| tuned: DM + multi-formation ×2 | 93.12 ± 0.23 [92.56, 93.68] (n=3) |",
        "| reference defaults: DM | 87.78 ± 0.10 [87.53, 88.03] (n=3) |", "",
        "![accuracy vs iteration, IPC 1](plots/curves.png)", "",
        "![outside the study](../secret.png)", "",
        "- TensorBoard: `tensorboard --logdir .` <not a tag>",
    ])
    page = markdown_to_html(md, tmp_path, "dd_tune study dm_mnist")
    outline = Outline()
    outline.feed(page)
    text = "".join(outline.text)
    assert outline.tags.count("h1") == 1 and outline.tags.count("h2") == 1 and "blockquote" in outline.tags
    assert outline.tags.count("table") == 1 and outline.tags.count("th") == 2 and outline.tags.count("tr") == 3
    assert "Verdict." in text and "93.12 ± 0.23 [92.56, 93.68] (n=3)" in text
    assert outline.images[0] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert outline.images[1] == "../secret.png"  # nothing outside the study folder is read into the page
    assert "<not a tag>" in text and "script" in outline.tags and "tensorboard --logdir ." in text
