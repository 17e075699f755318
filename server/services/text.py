"""Invitation texts and bios: Markdown in, sanitised HTML (or readable plain text) out.

markdown-it-py renders (raw HTML in the source is not rendered as HTML), then nh3 keeps only
a small allow-list of tags, so nothing an organiser pastes can run script on a public page.

What is supported (the admin's help text says the same, web/admin/forms.py MARKDOWN_HELP):
paragraphs, **bold**, *italic*, `code`, links, lists, quotes, headings and tables (GitHub's
pipe tables).

- **Headings** are shifted to sit below the heading the page puts the text under (`top_level`):
  a text's highest heading becomes `top_level`, and the others keep their distance from it, so
  "#" and "##" in a talk's text become h3 and h4 under the page's h2, and the outline stays right.
- **Tables** get `scope="col"` on their header cells and sit in a region that scrolls sideways
  on a phone; the region can take the keyboard focus (so it can be scrolled without a mouse)
  and is named after its columns.
- **Plain text** (`plain_text`, `plain_summary`) is for iCalendar, the podcast feed and meta
  descriptions, where markup would show as it is: headings as lines of their own, list items
  after "- " (or their number), each table row as "cell; cell", links as "text (address)".
  HTML pasted from a web page (`<p>`, `<br>`, `&nbsp;`) reads as the text it shows: tags go,
  entities become their characters, and what is left never holds a tag: a podcast app renders
  an RSS description as HTML.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from flask import has_app_context
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup, escape

from server.i18n import _

_ALIGN_CLASSES = {"align-left", "align-center", "align-right"}
_ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "blockquote", "h2", "h3", "h4", "h5", "h6", "code",
                 "table", "thead", "tbody", "tr", "th", "td", "div"}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "div": {"aria-label"}, "ol": {"start"}}
# Attributes only our renderer writes, each limited to the values it writes.
_ALLOWED_VALUES = {
    "div": {"class": {"table-scroll"}, "role": {"region"}, "tabindex": {"0"}},
    "th": {"scope": {"col"}, "class": _ALIGN_CLASSES},
    "td": {"class": _ALIGN_CLASSES},
}
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_SENTENCE_END = (".", "!", "?", ":", ";", "…")


# -- HTML -------------------------------------------------------------------------------------

def render_markdown(source: str | None, top_level: int = 3, table_label: str | None = None) -> Markup:
    """`source` as sanitised HTML whose headings start at h`top_level` (2 to 6).
    `table_label` names a table's scrolling region ("Table: %(columns)s"; default: translated)."""
    if table_label is None:
        table_label = _default_table_label()
    return _render(source or "", max(2, min(6, top_level)), table_label)


def _default_table_label() -> str:
    if not has_app_context():  # no catalogue to ask
        return "Table: %(columns)s"
    return _("Table: %(columns)s", columns="%(columns)s")


@lru_cache(maxsize=512)
def _render(source: str, top_level: int, table_label: str) -> Markup:
    tokens = _markdown.parse(source)
    _shift_headings(tokens, top_level)
    html = _render_tokens(tokens, table_label)
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        tag_attribute_values=_ALLOWED_VALUES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return Markup(clean)  # noqa: S704  nh3 has just cleaned it to the allow-list above


def _shift_headings(tokens: list[Token], top_level: int) -> None:
    levels = [int(token.tag[1]) for token in tokens if token.type == "heading_open"]
    if not levels:
        return
    highest = min(levels)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, top_level + int(token.tag[1]) - highest)}"


def _render_tokens(tokens: list[Token], table_label: str) -> str:
    """markdown-it's HTML, with each table in a named region that scrolls, header cells scoped
    and alignment as classes (the Content-Security-Policy forbids inline styles)."""
    out: list[str] = []
    start = 0
    for index, token in enumerate(tokens):
        if token.type in ("th_open", "td_open"):
            align = (token.attrGet("style") or "").removeprefix("text-align:")
            token.attrs.pop("style", None)
            if align in ("left", "center", "right"):
                token.attrSet("class", f"align-{align}")
            if token.type == "th_open":
                token.attrSet("scope", "col")
        elif token.type == "table_open":
            out.append(_markdown.renderer.render(tokens[start:index], _markdown.options, {}))
            start = index
            columns = ", ".join(_inline_text(t.children or []) for t in _header_cells(tokens, index))
            label = table_label.replace("%(columns)s", columns) if columns else table_label.replace(
                ": %(columns)s", "").replace("%(columns)s", "")
            out.append(f'<div class="table-scroll" role="region" tabindex="0" aria-label="{escape(label)}">\n')
        elif token.type == "table_close":
            out.append(_markdown.renderer.render(tokens[start:index + 1], _markdown.options, {}))
            out.append("</div>\n")
            start = index + 1
    out.append(_markdown.renderer.render(tokens[start:], _markdown.options, {}))
    return "".join(out)


def _header_cells(tokens: list[Token], table_open: int) -> list[Token]:
    """The inline tokens of a table's header row."""
    cells: list[Token] = []
    for token in tokens[table_open + 1:]:
        if token.type == "thead_close":
            break
        if token.type == "inline":
            cells.append(token)
    return cells


# -- plain text -------------------------------------------------------------------------------

# A tag, a comment, a declaration or a processing instruction, as pasted from a web page.
_MARKUP = re.compile(r"<!--.*?(?:-->|$)|<[!?][^>]*>|</?[A-Za-z][^>]*>", re.S)
_BREAKING = re.compile(r"</?(?:br|p|div|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|section|article|hr)\b", re.I)


def _without_markup(text: str) -> str:
    """`text` with tags taken out and entities as their characters. Unescaping may make a new
    tag (`&lt;b&gt;`), so both repeat until nothing changes (each round shortens the text); a
    `<` left before a letter (a tag never closed) gets a space, so no reader takes it as one."""
    previous = None
    while text != previous:
        previous = text
        text = _MARKUP.sub(lambda tag: " " if _BREAKING.match(tag.group()) else "", text)
        text = html.unescape(text)
    return re.sub(r"<(?=[A-Za-z/!?])", "< ", text)


def _inline_text(children: list[Token]) -> str:
    parts: list[str] = []
    links: list[tuple[str, int]] = []  # (href, where its text starts)
    for child in children:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(_without_markup(child.content))
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline_text(child.children or []) or _without_markup(child.content))
        elif child.type == "link_open":
            # As markdown-it shows an address as text: percent-escapes decoded, readable.
            links.append((_markdown.normalizeLinkText(str(child.attrGet("href") or "")), len(parts)))
        elif child.type == "link_close" and links:
            href, begins = links.pop()
            text = "".join(parts[begins:]).strip()
            if href and href not in (text, "mailto:" + text):
                parts.append(f" ({href.removeprefix('mailto:')})" if text else href)
    return re.sub(r"[ \t]+", " ", "".join(parts)).strip()


def _blocks(source: str) -> list[tuple[str, str]]:
    """The text as (kind, line) pairs: kind is heading, paragraph, item, row or code; ("end", "")
    closes a list or a table, so the next one does not run on."""
    blocks: list[tuple[str, str]] = []
    lists: list[list[int | None]] = []  # per open list: the next number, or None for bullets
    marker: str | None = None  # set by a list item's opening, used by its first line
    row: list[str] | None = None
    kind = "paragraph"
    for token in _markdown.parse(source or ""):
        kind_of = token.type
        if kind_of == "bullet_list_open":
            lists.append([None])
        elif kind_of == "ordered_list_open":
            lists.append([int(token.attrGet("start") or 1)])
        elif kind_of in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                blocks.append(("end", ""))
        elif kind_of == "list_item_open" and lists:
            number = lists[-1][0]
            marker = "- " if number is None else f"{number}. "
            if number is not None:
                lists[-1][0] = number + 1
        elif kind_of == "heading_open":
            kind = "heading"
        elif kind_of == "heading_close":
            kind = "paragraph"
        elif kind_of == "tr_open":
            row = []
        elif kind_of == "tr_close" and row is not None:
            blocks.append(("row", "; ".join(row)))
            row = None
        elif kind_of == "table_close":
            blocks.append(("end", ""))
        elif kind_of in ("fence", "code_block"):
            blocks.append(("code", _without_markup(token.content.rstrip("\n"))))
        elif kind_of == "inline":
            text = _inline_text(token.children or [])
            if row is not None:
                row.append(text)
            elif lists:
                indent = "  " * (len(lists) - 1)
                if marker is not None:
                    blocks.append(("item", indent + marker + text))
                    marker = None
                elif text:
                    blocks.append(("item", indent + "  " + text))
            elif text:
                blocks.append((kind, text))
    return blocks


def _joined(blocks: list[tuple[str, str]]) -> str:
    """Lines of a list or a table, and a heading and what follows it, on consecutive lines;
    other blocks apart by an empty line."""
    text = ""
    previous = None
    for kind, line in blocks:
        if kind == "end":
            previous = previous and "end"
            continue
        if previous is not None:
            together = previous == "heading" or (kind == previous and kind in ("item", "row"))
            text += "\n" if together else "\n\n"
        text += line
        previous = kind
    return text


def _shortened(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if re.search(r"\s", cut):
        cut = re.split(r"\s+(?=\S*$)", cut)[0]
    return cut.rstrip() + "…"


@lru_cache(maxsize=512)
def plain_text(source: str, limit: int | None = None) -> str:
    """A Markdown text as readable plain text over several lines (iCalendar, podcast feeds)."""
    return _shortened(_joined(_blocks(source or "")), limit)


@lru_cache(maxsize=512)
def plain_summary(source: str, limit: int = 200) -> str:
    """The first words of a Markdown text as one line of plain text, for meta descriptions:
    headings, list items and table rows end as sentences do, so they do not run together."""
    sentences = []
    for kind, line in _blocks(source or ""):
        if kind == "end":
            continue
        line = re.sub(r"\s+", " ", line).strip()
        if kind == "item":
            line = re.sub(r"^(- |\d+\. )", "", line)
        if kind in ("heading", "item", "row") and not line.endswith(_SENTENCE_END):
            line += "."
        sentences.append(line)
    return _shortened(" ".join(sentences), limit)
