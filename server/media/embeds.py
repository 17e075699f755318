"""Turn an organiser's stream URL into a safe player description.

Only a fixed set of URL shapes is recognised, and every third-party player URL
is rebuilt here from validated parts instead of copied from the input, so
nothing the organiser typed can reach an iframe src except ids that passed a
strict pattern. Pure module: no Flask request, no network access.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from flask_babel import lazy_gettext as _l

MAX_URL_LENGTH = 2000

# Kept close to proper names so the list reads fine inside a translated sentence.
ACCEPTED_SOURCES: tuple[str, ...] = (
    "YouTube (watch, youtu.be, live, embed, shorts)",
    "Vimeo (video, channels, event, player.vimeo.com)",
    "Twitch (channel, videos)",
    "Facebook (videos, watch, fb.watch)",
    "HLS (.m3u8)",
    "MP4/WebM (.mp4, .webm)",
)


@dataclass(frozen=True)
class StreamEmbed:
    provider: str  # "youtube" | "vimeo" | "twitch" | "facebook" | "hls" | "video"
    provider_name: str  # shown on the click-to-load facade button
    kind: str  # "iframe" | "hls" | "video"
    source_url: str  # the URL as given, stripped
    player_url: str  # iframe src, or the media URL for hls/video
    third_party: bool  # True -> the template must put it behind a facade

    @property
    def host(self) -> str:
        """Host name of player_url; "" for our own relative URLs."""
        return urlsplit(self.player_url).hostname or ""


class UnsupportedStreamURL(ValueError):
    """Raised with a user-facing message (translatable) that lists what is accepted."""

    def __init__(self, url: str):
        self.url = url
        # Lazy so the message is rendered in the visitor's language when shown,
        # not in whatever context the parse happened. The URL itself is left
        # out on purpose: echoing input into a message invites injection.
        self.message = _l(
            "This stream address is not supported. Accepted: %(accepted)s.",
            accepted=", ".join(ACCEPTED_SOURCES),
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return str(self.message)


# Printable RFC 3986 characters minus the single quote. Everything else
# (whitespace, controls, quotes, <>, backslash, non-ASCII) is refused rather
# than escaped: browsers and Python disagree on how to repair such URLs, and
# that disagreement is what host-confusion tricks rely on.
_SAFE_URL = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")

_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_TIME = re.compile(r"(?:(?P<h>\d{1,4})h)?(?:(?P<m>\d{1,5})m)?(?:(?P<s>\d{1,7})s?)?")
_NUMBER = re.compile(r"[0-9]{1,20}")
_TWITCH_CHANNEL = re.compile(r"[A-Za-z0-9_]{3,25}")
_FACEBOOK_PAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_FACEBOOK_SLUG = re.compile(r"[A-Za-z0-9._%-]{1,200}")
_FB_WATCH_CODE = re.compile(r"[A-Za-z0-9_-]{1,40}")
_VIMEO_HASH = re.compile(r"[0-9a-f]{6,32}")
_VIMEO_CHANNEL = re.compile(r"[A-Za-z0-9_-]{1,100}")

_YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com"})
_YOUTU_BE_HOSTS = frozenset({"youtu.be"})
_NOCOOKIE_HOSTS = frozenset({"youtube-nocookie.com", "www.youtube-nocookie.com"})
_VIMEO_HOSTS = frozenset({"vimeo.com", "www.vimeo.com"})
_VIMEO_PLAYER_HOSTS = frozenset({"player.vimeo.com"})
_TWITCH_HOSTS = frozenset({"twitch.tv", "www.twitch.tv", "m.twitch.tv"})
_FACEBOOK_HOSTS = frozenset({"facebook.com", "www.facebook.com", "m.facebook.com"})
_FB_WATCH_HOSTS = frozenset({"fb.watch"})

# First path segments on twitch.tv that are site pages, not channels; embedding
# them as a channel would just show an error player.
_TWITCH_RESERVED = frozenset(
    {
        "bits", "broadcast", "collections", "creatorcamp", "dashboard",
        "directory", "downloads", "drops", "embed", "event", "friends",
        "inventory", "jobs", "login", "logout", "messages", "moderator",
        "p", "partners", "payments", "popout", "prime", "products",
        "search", "settings", "signup", "store", "subscriptions", "team",
        "turbo", "u", "user", "videos", "wallet",
    }
)

_MEDIA_EXTENSIONS = {".m3u8": "hls", ".mp4": "video", ".webm": "video"}


def parse_stream_url(url: str, *, own_host: str = "localhost") -> StreamEmbed:
    """Recognise a stream URL and describe how to play it.

    `own_host` is our public host name: Twitch needs it as `parent`, and media
    on it counts as first party. Raises UnsupportedStreamURL for anything else.
    """
    own = _normalise_own_host(own_host)
    if not isinstance(url, str):
        raise UnsupportedStreamURL(url)
    source = url.strip()
    if not source or len(source) > MAX_URL_LENGTH:
        raise UnsupportedStreamURL(url)
    if not _SAFE_URL.fullmatch(source) or _BAD_PERCENT.search(source):
        raise UnsupportedStreamURL(url)

    # "//host/..." is protocol-relative, i.e. someone else's host in disguise.
    if source.startswith("/") and not source.startswith("//"):
        return _parse_relative(source, own)

    try:
        parts = urlsplit(source)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise UnsupportedStreamURL(url) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise UnsupportedStreamURL(url)
    # Credentials in the URL are only ever useful for phishing-style host
    # confusion (https://youtube.com@evil.net/) or leaking secrets to visitors.
    if "@" in parts.netloc:
        raise UnsupportedStreamURL(url)
    host = _valid_host(parts.hostname or "")
    # Brackets belong to IPv6 literals only; "[evil.com]" is parsed leniently
    # by Python but is not a valid URL for browsers.
    if host is None or ("[" in parts.netloc) != (":" in host):
        raise UnsupportedStreamURL(url)

    # Exact host matches only, so evil-youtube.com and youtube.com.evil.net
    # never get a provider's trust.
    for hosts, parser in _PROVIDER_PARSERS:
        if host in hosts:
            embed = parser(source, parts, own)
            if embed is None:
                raise UnsupportedStreamURL(url)
            return embed

    embed = _parse_direct_media(source, parts, scheme, host, own)
    if embed is None:
        raise UnsupportedStreamURL(url)
    return embed


def _normalise_own_host(own_host: str) -> str:
    # A bad own_host is a deployment bug, not a user error, so it gets a
    # plain ValueError instead of the user-facing message.
    if not isinstance(own_host, str):
        raise ValueError("own_host must be a host name")
    candidate = own_host.strip()
    host = None
    # Only host[:port] or [v6][:port]; urlsplit would silently drop tabs and
    # newlines, so the characters are checked first.
    if re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", candidate):
        try:
            parts = urlsplit("//" + candidate)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
            host = _valid_host(parts.hostname or "")
        except ValueError:
            host = None
    if host is None:
        raise ValueError(f"own_host is not a valid host name: {own_host!r}")
    return host


def _valid_host(hostname: str) -> str | None:
    """Return a normalised host name, or None if it is not a plausible host."""
    host = hostname.lower()
    if host.endswith("."):
        host = host[:-1]  # "youtube.com." is the same host; don't let it dodge matching
    if not host or len(host) > 253 or "%" in host:  # no IPv6 zone ids or escapes
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.split(".")
    if all(_HOST_LABEL.fullmatch(label) for label in labels):
        # An all-numeric last label would be a malformed IPv4 address that
        # browsers interpret differently (e.g. "0x7f.1" or "1.2.3").
        if labels[-1].isdigit():
            return None
        return host
    return None


def _path_segments(path: str) -> list[str]:
    """Split a path, tolerating one trailing slash but not empty segments."""
    if path.endswith("/"):
        path = path[:-1]
    if not path.startswith("/"):
        return []
    segments = path[1:].split("/")
    return [] if "" in segments else segments


def _first_query_value(query: str, name: str) -> str | None:
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == name:
            return value
    return None


# --- YouTube ----------------------------------------------------------------


def _youtube_embed(source: str, video_id: str | None, query: str) -> StreamEmbed | None:
    if video_id is None or not _YOUTUBE_ID.fullmatch(video_id):
        return None
    # The no-cookie domain is YouTube's reduced-tracking player; after the
    # facade click it is the least data we can send them.
    player = f"https://www.youtube-nocookie.com/embed/{video_id}"
    start = _youtube_start(query)
    if start:
        player += f"?start={start}"
    return StreamEmbed("youtube", "YouTube", "iframe", source, player, True)


def _youtube_start(query: str) -> int:
    # A garbled start time is ignored rather than refused: the video itself
    # is still fine to show.
    for name in ("start", "t"):
        raw = _first_query_value(query, name)
        if raw is None:
            continue
        match = _YOUTUBE_TIME.fullmatch(raw)
        if not raw or match is None:
            return 0
        hours, minutes, seconds = (int(match.group(g) or 0) for g in ("h", "m", "s"))
        return hours * 3600 + minutes * 60 + seconds
    return 0


def _parse_youtube(source, parts, own) -> StreamEmbed | None:
    segments = _path_segments(parts.path)
    if segments == ["watch"]:
        return _youtube_embed(source, _first_query_value(parts.query, "v"), parts.query)
    if len(segments) == 2 and segments[0] in ("live", "embed", "shorts"):
        return _youtube_embed(source, segments[1], parts.query)
    return None


def _parse_youtu_be(source, parts, own) -> StreamEmbed | None:
    segments = _path_segments(parts.path)
    if len(segments) == 1:
        return _youtube_embed(source, segments[0], parts.query)
    return None


def _parse_youtube_nocookie(source, parts, own) -> StreamEmbed | None:
    segments = _path_segments(parts.path)
    if len(segments) == 2 and segments[0] == "embed":
        return _youtube_embed(source, segments[1], parts.query)
    return None


# --- Vimeo ------------------------------------------------------------------


def _vimeo_video(source: str, video_id: str, unlisted_hash: str | None) -> StreamEmbed | None:
    if not _NUMBER.fullmatch(video_id):
        return None
    # dnt=1 stops Vimeo's player from setting tracking cookies.
    if unlisted_hash is None:
        query = "dnt=1"
    elif _VIMEO_HASH.fullmatch(unlisted_hash):
        query = f"h={unlisted_hash}&dnt=1"  # unlisted videos only play with their hash
    else:
        return None
    player = f"https://player.vimeo.com/video/{video_id}?{query}"
    return StreamEmbed("vimeo", "Vimeo", "iframe", source, player, True)


def _parse_vimeo(source, parts, own) -> StreamEmbed | None:
    segments = _path_segments(parts.path)
    if len(segments) in (1, 2) and _NUMBER.fullmatch(segments[0]):
        return _vimeo_video(source, segments[0], segments[1] if len(segments) == 2 else None)
    if len(segments) == 3 and segments[0] == "channels" and _VIMEO_CHANNEL.fullmatch(segments[1]):
        return _vimeo_video(source, segments[2], None)
    if segments[:1] == ["event"] and (
        len(segments) == 2 or (len(segments) == 3 and segments[2] == "embed")
    ):
        if not _NUMBER.fullmatch(segments[1]):
            return None
        player = f"https://vimeo.com/event/{segments[1]}/embed"
        return StreamEmbed("vimeo", "Vimeo", "iframe", source, player, True)
    return None


def _parse_vimeo_player(source, parts, own) -> StreamEmbed | None:
    segments = _path_segments(parts.path)
    if len(segments) == 2 and segments[0] == "video":
        return _vimeo_video(source, segments[1], _first_query_value(parts.query, "h"))
    return None


# --- Twitch -----------------------------------------------------------------


def _parse_twitch(source, parts, own) -> StreamEmbed | None:
    segments = _path_segments(parts.path)
    # Twitch refuses to play unless `parent` names the embedding site.
    parent = quote(own, safe="")
    if len(segments) == 2 and segments[0] == "videos":
        if not _NUMBER.fullmatch(segments[1]):
            return None
        player = f"https://player.twitch.tv/?video=v{segments[1]}&parent={parent}"
        return StreamEmbed("twitch", "Twitch", "iframe", source, player, True)
    if len(segments) == 1:
        channel = segments[0].lower()
        if not _TWITCH_CHANNEL.fullmatch(channel) or channel in _TWITCH_RESERVED:
            return None
        player = f"https://player.twitch.tv/?channel={channel}&parent={parent}"
        return StreamEmbed("twitch", "Twitch", "iframe", source, player, True)
    return None


# --- Facebook ---------------------------------------------------------------


def _facebook_embed(source: str, canonical: str) -> StreamEmbed:
    # The plugin takes the video page as a parameter; encode all of it so the
    # canonical URL cannot add parameters to the plugin URL.
    player = "https://www.facebook.com/plugins/video.php?href=" + quote(canonical, safe="")
    return StreamEmbed("facebook", "Facebook", "iframe", source, player, True)


def _parse_facebook(source, parts, own) -> StreamEmbed | None:
    segments = _path_segments(parts.path)
    if segments == ["watch"]:
        video_id = _first_query_value(parts.query, "v")
        if video_id is None or not _NUMBER.fullmatch(video_id):
            return None
        return _facebook_embed(source, f"https://www.facebook.com/watch/?v={video_id}")
    # /<page>/videos/<id>/, plus the older /<page>/videos/<title-slug>/<id>/
    if len(segments) in (3, 4) and segments[1] == "videos":
        page, video_id = segments[0], segments[-1]
        if not _FACEBOOK_PAGE.fullmatch(page) or not _NUMBER.fullmatch(video_id):
            return None
        if len(segments) == 4 and not _FACEBOOK_SLUG.fullmatch(segments[2]):
            return None
        return _facebook_embed(source, f"https://www.facebook.com/{page}/videos/{video_id}/")
    return None


def _parse_fb_watch(source, parts, own) -> StreamEmbed | None:
    segments = _path_segments(parts.path)
    if len(segments) == 1 and _FB_WATCH_CODE.fullmatch(segments[0]):
        return _facebook_embed(source, f"https://fb.watch/{segments[0]}/")
    return None


_PROVIDER_PARSERS = (
    (_YOUTUBE_HOSTS, _parse_youtube),
    (_YOUTU_BE_HOSTS, _parse_youtu_be),
    (_NOCOOKIE_HOSTS, _parse_youtube_nocookie),
    (_VIMEO_HOSTS, _parse_vimeo),
    (_VIMEO_PLAYER_HOSTS, _parse_vimeo_player),
    (_TWITCH_HOSTS, _parse_twitch),
    (_FACEBOOK_HOSTS, _parse_facebook),
    (_FB_WATCH_HOSTS, _parse_fb_watch),
)


# --- Direct media files -----------------------------------------------------


def _media_kind(path: str) -> str | None:
    lowered = path.lower()
    for extension, kind in _MEDIA_EXTENSIONS.items():
        # Need a file name, not just "/.mp4".
        if lowered.endswith(extension) and not lowered.endswith("/" + extension):
            return kind
    return None


def _parse_relative(source: str, own: str) -> StreamEmbed:
    kind = _media_kind(urlsplit(source).path)
    if kind is None:
        raise UnsupportedStreamURL(source)
    # Relative URLs are served by us, so there is no third party to name.
    return StreamEmbed(kind, own, kind, source, source, False)


def _parse_direct_media(source, parts, scheme, host, own) -> StreamEmbed | None:
    kind = _media_kind(parts.path)
    if kind is None:
        return None
    # Our pages are served over HTTPS, where browsers block or silently
    # upgrade plain-HTTP media anyway; upgrading here makes that explicit.
    player = "https" + source[len(scheme):]
    return StreamEmbed(kind, host, kind, source, player, host != own)
