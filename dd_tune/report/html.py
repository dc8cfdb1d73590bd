"""``report.html`` beside ``report.md``: the same report as one self-contained page (pictures inline, every
table sortable by clicking a column), so a copied study folder, an e-mail attachment or a browser
without a Markdown viewer shows it whole.

It renders the subset of Markdown dd_tune's reports use (headings, paragraphs, pipe tables, images,
bold, italics, inline code, links, quotes, bullet lists) rather than depending on a Markdown package.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

_SORT_SCRIPT = """
document.querySelectorAll('table').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.title = 'sort by this column';
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows), up = th.dataset.up !== '1';
      function key(row) {
        var text = row.cells[col] ? row.cells[col].innerText.trim() : '';
        var num = parseFloat(text.replace(/^[^0-9+\\-.]*/, '').replace('\\u2212', '-'));
        return isNaN(num) ? text.toLowerCase() : num;
      }
      rows.sort(function (a, b) { var x = key(a), y = key(b); return (x > y ? 1 : x < y ? -1 : 0) * (up ? 1 : -1); });
      rows.forEach(function (row) { body.appendChild(row); });
      th.dataset.up = up ? '1' : '0';
    });
  });
});
"""

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
td code { overflow-wrap: anywhere; }
th { background: #f3f3f3; cursor: pointer; }
img { max-width: 100%; }
blockquote { border-left: 4px solid #c33; margin: 1rem 0; padding: 0.25rem 1rem; background: #fff4f4; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}


def markdown_to_html(text: str, base: Path, title: str) -> str:
    """A whole HTML page for ``text`` (a dd_tune report); images are read from ``base`` and inlined."""
    body: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{_inline(line[level:].strip(), base)}</h{level}>")
            i += 1
        elif line.startswith("|"):
            block, i = _take(lines, i, lambda s: s.startswith("|"))
            body.append(_table(block, base))
        elif line.startswith(">"):
            block, i = _take(lines, i, lambda s: s.startswith(">"))
            body.append(f"<blockquote>{_inline(' '.join(s[1:].strip() for s in block), base)}</blockquote>")
        elif line.startswith(("- ", "* ")):
            block, i = _take(lines, i, lambda s: s.startswith(("- ", "* ")))
            body.append("<ul>" + "".join(f"<li>{_inline(s[2:], base)}</li>" for s in block) + "</ul>")
        else:
            block, i = _take(lines, i, lambda s: bool(s.strip()) and not s.startswith(("#", "|", ">", "- ", "* ")))
            body.append(f"<p>{_inline(' '.join(block), base)}</p>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(body)
            + f"\n<script>{_SORT_SCRIPT}</script>\n</body></html>\n")


def _take(lines: list[str], i: int, keep: object) -> tuple[list[str], int]:
    block = []
    while i < len(lines) and keep(lines[i]):  # type: ignore[operator]
        block.append(lines[i])
        i += 1
    return block, i


def _cells(row: str) -> list[str]:
    """A table row's cells: split at ``|`` but not at ``\\|`` (a pipe inside a name, escaped by the
    report writer), which becomes a plain ``|``."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def _table(block: list[str], base: Path) -> str:
    head, rows = _cells(block[0]), [r for r in block[1:] if not re.fullmatch(r"\|[\s:|-]*\|?", r.strip())]
    out = ["<table><thead><tr>" + "".join(f"<th>{_inline(c, base)}</th>" for c in head) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{_inline(c, base)}</td>" for c in _cells(r)) + "</tr>" for r in rows]
    return "".join(out) + "</tbody></table>"


def _inline(text: str, base: Path) -> str:
    """Escape everything (quotes included: no text can leave an element or an attribute), then build
    the markup dd_tune's Markdown uses from the escaped text: images (inlined), links (allowed targets
    only), code, bold, italics. No markup ever comes from the text itself."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        s = html.escape(part)
        s = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", lambda m: _image(m.group(1), m.group(2), base), s)
        s = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", lambda m: _link(m.group(1), m.group(2)), s)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"(?<![\w*])_(.+?)_(?![\w*])", r"<em>\1</em>", s)
        out.append(s)
    return "".join(out)


SAFE_SCHEMES = ("http", "https")


def safe_target(target: str) -> bool:
    """A link or picture target the page may use: a relative path or an http(s) URL. ``javascript:``,
    ``data:``, ``file:`` and every other scheme (in any case, with any whitespace or control character
    a browser would drop) are refused."""
    squeezed = re.sub(r"[\x00-\x20\x7f]+", "", target)
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", squeezed)
    return scheme is None or scheme.group(1).lower() in SAFE_SCHEMES


def _link(label: str, target: str) -> str:
    """``label`` and ``target`` arrive escaped; an unsafe target leaves the label as plain text."""
    if not safe_target(html.unescape(target)):
        return label
    return f'<a href="{target}">{label}</a>'


def _image(alt: str, src: str, base: Path) -> str:
    """An ``<img>`` with the picture inside the page when it is a local file of a known type under the
    study folder; another allowed target as a plain reference; anything else as its alt text."""
    raw = html.unescape(src)
    path = (base / raw).resolve()
    mime = _MIME.get(path.suffix.lower())
    if mime and path.is_file() and path.is_relative_to(base.resolve()):
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'<img alt="{alt}" src="data:{mime};base64,{data}">'
    if not safe_target(raw):
        return alt
    return f'<img alt="{alt}" src="{src}">'
