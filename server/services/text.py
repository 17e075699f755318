"""Invitation texts and bios: Markdown in, sanitised HTML out.

markdown-it-py renders (raw HTML in the source is not rendered as HTML), then nh3 keeps only
a small allow-list of tags, so nothing an organiser pastes can run script on a public page.
"""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "blockquote", "h3", "h4", "code"}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


@lru_cache(maxsize=512)
def render_markdown(source: str) -> Markup:
    html = _markdown.render(source or "")
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return Markup(clean)


@lru_cache(maxsize=512)
def plain_summary(source: str, limit: int = 200) -> str:
    """The first words of a Markdown text as plain text, for meta descriptions and feeds."""
    text = nh3.clean(_markdown.render(source or ""), tags=set())
    text = re.sub(r"\s+", " ", text).strip()
    text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"
