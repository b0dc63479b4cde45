"""Redirects never take their target from the request's headers (attack run
D20): behind a proxy, a forged Host, X-Forwarded-Host, -Proto or -Prefix must
not turn a cacheable redirect of a published address into one to another
site. Every redirect is checked the way a browser follows it: its Location
resolved against the address the visitor asked for."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest

from helpers import SITE_URL

EVIL = "evil.example"
HOSTILE = [
    {"Host": EVIL},
    {"Host": f"{EVIL}:8443", "X-Forwarded-Proto": "https"},
    {"X-Forwarded-Host": EVIL},
    {"X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "ftp"},
    {"X-Forwarded-Prefix": f"https://{EVIL}"},
    {"X-Forwarded-Prefix": f"//{EVIL}"},
    {"X-Forwarded-Prefix": f"/good, //{EVIL}"},
    {"X-Forwarded-Prefix": f"/\\{EVIL}"},
    {"Host": EVIL, "X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "http",
     "X-Forwarded-Prefix": f"https://{EVIL}/x", "X-Forwarded-Port": "8443"},
]


def older_addresses(folder: str) -> list[str]:
    """Every older form of a folder page's address that a server redirects:
    without the slash, as .html, and as index(.html) inside the folder."""
    forms = [folder + "index.html", folder + "index"]
    if folder != "/":
        forms += [folder[:-1], folder[:-1] + ".html"]
    return forms


@pytest.fixture(params=[0, 1], ids=["direct", "proxy-fix"])
def served(request, make_app):
    app = make_app(PROXY_FIX=request.param)
    return app.test_client()


def redirecting_addresses(client) -> dict[str, str]:
    """Each address that should redirect, with the page it stands for."""
    snapshot = client.application.extensions["feeds"].current()
    folders = [route for route in snapshot.routes if route.endswith("/")]
    assert {"/", "/embed/", "/on-your-website/", "/talks/2026-04-13-fischer/"} <= set(folders)
    found = {old: folder for folder in folders for old in older_addresses(folder)}
    found["/embed?limit=2&theme=dark"] = "/embed/?limit=2&theme=dark"
    found["/talks/2026-04-13-fischer?utm=x"] = "/talks/2026-04-13-fischer/?utm=x"
    return found


def test_every_redirect_stays_on_the_site_whatever_the_headers_say(served):
    addresses = redirecting_addresses(served)
    for old, page in addresses.items():
        for headers in [{}, *HOSTILE]:
            response = served.get(old, base_url=SITE_URL, headers=headers)
            assert response.status_code in (301, 308), (old, headers, response.status_code)
            location = response.headers["Location"]
            assert EVIL not in location, (old, headers, location)
            followed = urljoin(SITE_URL + old, location)
            assert followed == SITE_URL + page, (old, headers, location)


def test_a_redirect_is_relative_so_that_it_works_under_any_prefix(make_app):
    """Mounted under /group by a proxy, a visitor asked for /group/talks/x:
    the relative redirect leads to /group/talks/x/ without trusting a header."""
    client = make_app(PROXY_FIX=1).test_client()
    response = client.get("/talks/2026-04-13-fischer", headers={"X-Forwarded-Prefix": "/group"})
    asked = "https://example.org/group/talks/2026-04-13-fischer"
    followed = urlsplit(urljoin(asked, response.headers["Location"]))
    assert followed.netloc == "example.org"
    assert followed.path == "/group/talks/2026-04-13-fischer/"


def test_no_other_address_redirects(served):
    """Werkzeug's own redirects (a missing slash, doubled slashes) would build
    an absolute URL from the request: none of them happens."""
    for path in ("//talks/2026-04-13-fischer/", "/talks//2026-04-13-fischer/",
                 "/healthz/", "/calendar.ics/", f"//{EVIL}/", "/members/x/calendar.ics/"):
        response = served.get(path, base_url=SITE_URL, headers={"Host": EVIL})
        assert response.status_code == 404 or response.status_code < 300, (path, response.status_code)
        assert "Location" not in response.headers, path
