"""The import guard's address rules and the captions converter, piece by piece (the import
tests drive both end to end through yt-dlp)."""

from __future__ import annotations

import socket

import pytest

from server.media.captions import CaptionsError, to_webvtt
from server.media.guard import Guard, GuardRefused, is_public_address


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "::1", "fe80::1", "fc00::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::", "64:ff9b::a00:1", "::",
])
def test_address_inside_a_private_or_special_network_is_not_public(address):
    assert is_public_address(address) is False


@pytest.mark.parametrize("address", ["93.184.215.14", "151.101.1.140", "2a00:1450:4001:80b::200e"])
def test_global_address_is_public(address):
    assert is_public_address(address) is True


def test_name_that_resolves_to_loopback_is_refused_unless_allowed():
    with pytest.raises(GuardRefused) as refused:
        Guard().resolve("localhost", 80, 0, socket.SOCK_STREAM)

    assert refused.value.code == "private_address"
    assert Guard(["localhost"]).resolve("localhost", 80, 0, socket.SOCK_STREAM)


def test_numeric_tricks_for_loopback_are_refused():
    # inet_aton reads these as 127.0.0.1; the check looks at what the resolver returns.
    for host in ("2130706433", "0x7f000001", "127.1", "0177.0.0.1"):
        with pytest.raises(GuardRefused):
            Guard(["127.0.0.1"]).resolve(host, 80, 0, socket.SOCK_STREAM)


def test_allow_list_is_an_exact_host_match():
    guard = Guard(["localhost"])

    with pytest.raises(GuardRefused):
        guard.check_url("http://127.0.0.1/clip.mp4")


def test_connect_to_a_private_address_is_refused_unless_an_allowed_name_led_there():
    guard = Guard(["localhost"])

    with pytest.raises(GuardRefused):
        guard.check_address(("10.0.0.5", 80))
    guard.resolve("localhost", 80, 0, socket.SOCK_STREAM)
    guard.check_address(("127.0.0.1", 80))  # localhost is allowed and resolved to it


@pytest.mark.parametrize("url, code", [
    ("file:///etc/passwd", "scheme_refused"), ("ftp://example.org/a.mp4", "scheme_refused"),
    ("gopher://127.0.0.1:6379/_INFO", "scheme_refused"), ("http://user:pw@example.org/", "bad_url"),
    ("http:///nohost", "bad_url"), ("http://[::1]:80/", "private_address"),
])
def test_url_that_an_import_may_not_fetch_is_refused_with_its_reason(url, code):
    with pytest.raises(GuardRefused) as refused:
        Guard().check_url(url)

    assert refused.value.code == code


def test_srt_in_windows_1252_becomes_utf8_webvtt():
    srt = "1\r\n00:00:01,500 --> 00:00:03,000\r\nVälkommen till Luleå\r\n".encode("cp1252")

    assert to_webvtt(srt) == "WEBVTT\n\n00:00:01.500 --> 00:00:03.000\nVälkommen till Luleå\n"


def test_webvtt_is_rewritten_without_styles_or_notes():
    vtt = (b"WEBVTT\n\nSTYLE\n::cue { color: red }\n\nNOTE a note\n\n1\n00:01.000 --> 00:02.000 align:start\n"
           b"<v Anna>Hej</v>\n")

    assert to_webvtt(vtt) == "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Anna>Hej</v>\n"


@pytest.mark.parametrize("data", [b"", b"hello", b"\x00\x01binary", b"WEBVTT\n\n"])
def test_text_without_timed_cues_is_not_captions(data):
    with pytest.raises(CaptionsError):
        to_webvtt(data)
