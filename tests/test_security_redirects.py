"""`next=` on the language switch and on sign-in: only a path on this site, whatever a
visitor's browser would make of the text (tabs and newlines dropped, backslashes read as
slashes), and never a 500."""

import re

import pytest

from server.services.accounts import create_organiser
from server.web.context import safe_redirect_target

PASSWORD = "kluriga-lösenordet-2026"

# As they arrive in a link: %09 is a tab, %0a and %0d a newline.
OFF_SITE = [
    "/%09/evil.example/", "/%0a/evil.example/", "/%0d%0a/evil.example", "%09//evil.example",
    "//evil.example/", "///evil.example/", "/\\evil.example", "\\\\evil.example", "\\/evil.example",
    "/%09\\evil.example", "https://evil.example/", "http:evil.example", "javascript:alert(1)",
    "%09javascript:alert(1)", "java%09script:alert(1)", "evil.example", "", "/%00/evil.example",
]


def sign_in_page(client, query: str):
    page = client.get(f"/sign-in?{query}").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return client.post(f"/sign-in?{query}", data={"email": "karin@norrbotten.se", "password": PASSWORD,
                                                  "csrf_token": token})


@pytest.fixture
def karin(session):
    create_organiser(session, email="karin@norrbotten.se", name="Karin Kommunikatör", password=PASSWORD)
    session.commit()


@pytest.mark.parametrize("target", OFF_SITE)
def test_language_switch_with_an_off_site_next_goes_home(client, target):
    response = client.get(f"/language/en?next={target}")

    assert response.status_code == 303
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", OFF_SITE)
def test_sign_in_with_an_off_site_next_goes_home(client, karin, target):
    response = sign_in_page(client, f"next={target}")

    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_language_switch_returns_to_a_page_with_its_query_and_fragment(client):
    response = client.get("/language/en", query_string={"next": "/events/dag/?visa=alla#program"})

    assert response.headers["Location"] == "/events/dag/?visa=alla#program"


def test_sign_in_returns_to_the_admin_page_it_came_from(client, karin):
    response = sign_in_page(client, "next=/admin/events/dag")

    assert response.headers["Location"] == "/admin/events/dag"


@pytest.mark.parametrize("target", ["/%0aSet-Cookie:%20x=1", "/%0d%0aLocation:%20https://evil.example"])
def test_a_newline_in_next_is_not_a_server_error(client, target):
    response = client.get(f"/language/en?next={target}")

    assert response.status_code == 303
    assert "\n" not in response.headers["Location"] and "\r" not in response.headers["Location"]


@pytest.mark.parametrize("target", ["/a\tb", "/\t/x", "\t/x", "/x\n", "/ok\\..\\x"])
def test_the_helper_never_returns_a_tab_a_newline_or_a_backslash(target):
    result = safe_redirect_target(target, "/")

    assert not set(result) & {"\t", "\r", "\n", "\\"}
    assert result.startswith("/") and not result.startswith("//")


@pytest.mark.parametrize("target", [None, 3, ["/"], "//x", "/\\x", "\\\\x", "http://x", "javascript:x", "x"])
def test_the_helper_falls_back_to_the_default(target):
    assert safe_redirect_target(target, "/home") == "/home"
