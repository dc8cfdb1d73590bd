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


HOSTILE = [
    'x" onerror="alert(1)', "`a` <img src=x onerror=alert(1)> `b`", "<script>alert(1)</script>",
    "[click](javascript:alert(1))", "[c](JaVaScRiPt:alert(1))", "[c]( java\tscript:alert(1))",
    "[c](data:text/html,<script>alert(1)</script>)", "![p](x\" onerror=\"alert(1).png)", "![p](javascript:alert(1))",
    "a`b\" onmouseover=\"alert(1)`c", "storage `/tmp/a`b\"><svg onload=alert(1)>`",
    "a` ![q\" onerror=\"alert(1)](missing.png) `b",
]


class Attributes(HTMLParser):
    """Every tag and attribute a browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.found += [(tag, k, v or "") for k, v in attrs] or [(tag, "", "")]


def test_no_text_of_a_report_becomes_markup(tmp_path: Path):
    """Names, paths and links from user text cannot add an element, an attribute or a script target: the
    page holds only the tags dd_tune writes, no on* handler, and links only to relative or http(s) targets."""
    md = "\n".join(["# Study " + HOSTILE[0], "", "| name | v |", "|---|---|",
                    *(f"| {h} | 1 |" for h in HOSTILE), "", *HOSTILE, "", "- " + HOSTILE[1],
                    "> " + HOSTILE[2]])
    page = markdown_to_html(md, tmp_path, 'title" onload="x')
    parser = Attributes()
    parser.feed(page)
    tags = {t for t, _, _ in parser.found}
    assert tags <= {"html", "head", "meta", "title", "style", "body", "h1", "table", "thead", "tbody", "tr", "th",
                    "td", "code", "p", "ul", "li", "blockquote", "script", "a", "img", "strong", "em"}
    assert page.count("<script>") == 1  # dd_tune's own sorting script, nothing else
    assert not [a for a in parser.found if a[1].startswith("on")]
    for tag, attr, value in parser.found:
        if attr in ("href", "src"):
            assert not value.lower().replace(" ", "").replace("\t", "").startswith(("javascript:", "data:text")), value


def test_a_pipe_escaped_in_a_cell_stays_in_its_cell(tmp_path: Path):
    page = markdown_to_html("| a | b |\n|---|---|\n| x\\|y | 2 |\n", tmp_path, "t")
    assert "<td>x|y</td><td>2</td>" in page
