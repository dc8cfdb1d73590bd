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


class Blocks(HTMLParser):
    """The page's top-level blocks in order: ("h2", text), ("p", text), ("table", columns), ..."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[str, object]] = []
        self._open: str | None = None
        self._columns = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2", "p", "blockquote") and self._open is None:
            self._open = tag
            self.blocks.append((tag, ""))
        elif tag == "table":
            self._open, self._columns = "table", 0
        elif tag == "th" and self._open == "table":
            self._columns += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self.blocks.append(("table", self._columns))
        if tag == self._open:
            self._open = None

    def handle_data(self, data):
        if self._open in ("h1", "h2", "p", "blockquote") and self.blocks:
            kind, text = self.blocks[-1]
            self.blocks[-1] = (kind, f"{text}{data}")


def test_the_first_screen_is_the_verdict_and_the_test_table_and_the_trial_table_fits(tmp_path: Path):
    """The order a reader meets: title, the not-a-result banner, one line of how, then IPC 1's verdict and
    test table before anything about the search; the protocol under "How it was measured"; the trial
    table has five columns whatever the search space (the configuration wraps in one cell) and the page's
    tables may wrap their cells."""
    from factories import acc, ipc_result, study_result

    from dd_tune.report.study_report import write_report

    space = {k: {"type": "categorical", "choices": [1, 2]} for k in ("a_long_parameter_name", "b", "c", "d", "e")}
    default = {k: 1 for k in space}
    trials = [{"trial": f"t0{i}", "optuna": i, "config": {**default, "b": 1 + i % 2, "c": 2}, "val_acc": 50.0 + i,
               "it": 4, "error": None, "device": "cpu", "node": "10.0.0.1 (n)"} for i in range(3)]
    row = ipc_result(trials=trials, default_config=default, best_config=default,
                     reeval={"best": {"convnet": acc([60.0, 61.0])}, "default": {"convnet": acc([59.0, 58.0])}})
    report = study_result(by_ipc={"1": row}, profile="smoke", search_space=space,
                          protocol="protocol dd_tune: 2 fresh models (the long line)")
    (tmp_path / "s").mkdir()
    write_report(report, tmp_path / "s")
    page = Blocks()
    page.feed((tmp_path / "s" / "report.html").read_text())
    kinds = [k for k, _ in page.blocks]
    assert kinds[:4] == ["h1", "blockquote", "p", "h2"] and page.blocks[3][1] == "IPC 1"
    assert "table" in kinds[4:7] and "Verdict" in page.blocks[4][1]  # the verdict, then the test table
    first_table = kinds.index("table")
    assert all("trials (" not in str(text) for _, text in page.blocks[:first_table])
    measured = kinds.index("h2", 4)
    assert page.blocks[measured][1] == "How it was measured" and "protocol dd_tune" in page.blocks[measured + 1][1]
    trial_table = next(i for i, (k, _) in enumerate(page.blocks) if k == "p" and "same in every trial" in str(_))
    assert page.blocks[trial_table - 1] == ("table", 5)  # trial, val acc, iterations, configuration, ran on
    assert str(page.blocks[trial_table][1]).startswith("The same in every trial: a_long_parameter_name=1, c=2, d=1")
    assert "b=" not in str(page.blocks[trial_table][1])  # b varies: in the table
    html_text = (tmp_path / "s" / "report.html").read_text()
    assert "overflow-wrap" in html_text and "max-width: 100%" in html_text
    md = (tmp_path / "s" / "report.md").read_text()
    # b varies (its non-default values in the cell); c=2 in every trial, said once; no row claims the defaults
    assert "| t02 | 52.00 | 4 | — |" in md and "| t01 | 51.00 | 4 | b=2 |" in md and "the reference defaults |" not in md
