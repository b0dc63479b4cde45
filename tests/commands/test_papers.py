"""Paper look-ups against a local server that mimics each API's documented
responses (made-up fixtures, tests/fixtures/papers/README.md)."""

from __future__ import annotations

import resource
import time
import urllib.parse

import pytest

from feeds.commands import papers
from feeds.commands.papers import PaperError, fetch_paper, parse_reference

from paper_api import closed_port_env, crossref_work, openreview_note, paper_api, send
from paper_api import hostile_api as paper_api_hostile


@pytest.mark.parametrize("given, url", [
    ("2501.19393", "https://arxiv.org/abs/2501.19393"),
    ("2501.19393v2", "https://arxiv.org/abs/2501.19393"),
    ("arXiv:2501.19393", "https://arxiv.org/abs/2501.19393"),
    ("https://arxiv.org/abs/2501.19393", "https://arxiv.org/abs/2501.19393"),
    ("https://arxiv.org/abs/2501.19393v3", "https://arxiv.org/abs/2501.19393"),
    ("https://arxiv.org/pdf/2601.21725", "https://arxiv.org/abs/2601.21725"),
    ("http://arxiv.org/pdf/2211.05729v2.pdf", "https://arxiv.org/abs/2211.05729"),
    ("  https://export.arxiv.org/abs/0704.0001  ", "https://arxiv.org/abs/0704.0001"),
    ("hep-th/9901001", "https://arxiv.org/abs/hep-th/9901001"),
    ("https://arxiv.org/abs/math.GT/0309136v1", "https://arxiv.org/abs/math.GT/0309136"),
    ("https://openreview.net/forum?id=lbtOctHDQ3", "https://openreview.net/forum?id=lbtOctHDQ3"),
    ("https://openreview.net/pdf?id=lbtOctHDQ3", "https://openreview.net/forum?id=lbtOctHDQ3"),
    ("https://openreview.net/forum?id=lbtOctHDQ3&noteId=abc",
     "https://openreview.net/forum?id=lbtOctHDQ3"),
    ("10.5555/12345678", "https://doi.org/10.5555/12345678"),
    ("https://doi.org/10.5555/12345678", "https://doi.org/10.5555/12345678"),
    ("doi:10.1103/PhysRevLett.116.061102", "https://doi.org/10.1103/PhysRevLett.116.061102"),
])
def test_every_documented_form_names_its_canonical_page(given, url):
    assert parse_reference(given).url == url


@pytest.mark.parametrize("given", ["", "s1", "2501.193", "https://example.org/abs/2501.19393",
                                   "https://openreview.net/group?id=ICLR.cc",
                                   "https://openreview.net/forum", "11.1234/x"])
def test_anything_else_is_refused_with_the_forms_to_use(given):
    with pytest.raises(PaperError, match="arXiv|OpenReview"):
        parse_reference(given)


def test_arxiv_paper_comes_as_plain_text_with_its_authors():
    with paper_api() as (env, seen):
        paper = fetch_paper("https://arxiv.org/pdf/2501.19393v3", "org@example.org", env=env)
    assert paper.title == "s1: Simple test-time scaling"
    assert paper.label == "arXiv" and paper.url == "https://arxiv.org/abs/2501.19393"
    assert paper.authors == ("Niklas Muennighoff", "Placeholder Coauthor",
                             "Émilie Placeholder-Author")
    assert "\n" not in paper.abstract and "\\\\" not in paper.abstract
    assert "\\newline" not in paper.abstract
    assert paper.abstract.startswith("Placeholder abstract for the tests, hard-wrapped the way")
    assert "must come out as one paragraph. A LaTeX line break and a must vanish" in paper.abstract
    assert "$O(\\sqrt{n})$" in paper.abstract  # math is left alone
    # One request, an id_list query, with a descriptive agent and the contact.
    assert len(seen.requests) == 1
    path, headers = seen.requests[0]
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["id_list"] == ["2501.19393"]
    assert headers["User-Agent"].startswith("feeds/")
    assert "mailto:org@example.org" in headers["User-Agent"]


def test_arxiv_title_is_unwrapped_and_paragraphs_stay_apart():
    with paper_api() as (env, _):
        paper = fetch_paper("2211.05729", env=env)
    assert paper.title == "How Does Sharpness-Aware Minimization Minimize Sharpness?"
    assert paper.abstract == (
        "First placeholder paragraph, wrapped over two lines.\n\nSecond placeholder "
        "paragraph: the source has a blank line before it, so it stays a paragraph of its own.")


@pytest.mark.parametrize("status", ["200", "400"])
def test_arxiv_error_entry_is_an_error_with_arxivs_reason(status):
    with paper_api(error_status=status) as (env, _):
        with pytest.raises(PaperError, match="incorrect id format for 1234.12345"):
            fetch_paper("1234.12345", env=env)


def test_unknown_arxiv_id_is_an_error():
    with paper_api() as (env, _):
        with pytest.raises(PaperError, match="no arXiv paper '2599.99999'"):
            fetch_paper("2599.99999", env=env)


def test_openreview_v2_values_are_unpacked():
    with paper_api() as (env, seen):
        paper = fetch_paper("https://openreview.net/pdf?id=lbtOctHDQ3", env=env)
    assert paper.title == ("Flatness is Necessary, Neural Collapse is Not: Rethinking "
                           "Generalization via Grokking")
    assert paper.label == "OpenReview"
    assert paper.url == "https://openreview.net/forum?id=lbtOctHDQ3"
    assert paper.authors == ("Ting Han", "Placeholder Coauthor")
    assert paper.abstract == ("First placeholder paragraph of the abstract, with a line break "
                              "inside it.\n\nSecond placeholder paragraph.")
    assert seen.requests[0][0] == "/openreview/notes?id=lbtOctHDQ3"


def test_unknown_openreview_id_is_an_error():
    with paper_api() as (env, _):
        with pytest.raises(PaperError, match="no OpenReview paper 'zzzzzzzzzz'"):
            fetch_paper("https://openreview.net/forum?id=zzzzzzzzzz", env=env)


def test_crossref_jats_abstract_becomes_plain_paragraphs():
    with paper_api() as (env, seen):
        paper = fetch_paper("https://doi.org/10.5555/12345678", "org@example.org", env=env)
    assert paper.title == ("Toward a Unified Theory of High-Energy Metaphysics: Silly String "
                           "Theory")
    assert paper.label == "DOI" and paper.url == "https://doi.org/10.5555/12345678"
    assert paper.authors == ("Josiah Carberry", "Placeholder Consortium")
    assert paper.abstract == ("First placeholder paragraph with italic words and a & sign."
                              "\n\nSecond placeholder paragraph.")
    assert "<" not in paper.abstract and not paper.abstract.startswith("Abstract")
    path, headers = seen.requests[0]
    assert path == "/crossref/works/10.5555/12345678"
    assert "mailto:org@example.org" in headers["User-Agent"]


def test_unknown_doi_is_an_error():
    with paper_api() as (env, _):
        with pytest.raises(PaperError, match="Crossref does not know the DOI '10.5555/0000'"):
            fetch_paper("10.5555/0000", env=env)


@pytest.mark.parametrize("reference", ["2501.19393", "https://openreview.net/forum?id=lbtOctHDQ3",
                                       "10.5555/12345678"])
def test_server_trouble_is_an_error_not_a_guess(reference):
    with paper_api(status="503") as (env, _):
        with pytest.raises(PaperError, match="HTTP 503"):
            fetch_paper(reference, env=env)


@pytest.mark.parametrize("reference", ["https://openreview.net/forum?id=lbtOctHDQ3",
                                       "10.5555/12345678"])
def test_a_response_that_is_not_json_is_an_error(reference):
    with paper_api(garbage="1") as (env, _):
        with pytest.raises(PaperError, match="not JSON"):
            fetch_paper(reference, env=env)


def test_no_server_is_a_clear_error():
    with pytest.raises(PaperError, match="cannot reach the arXiv API"):
        fetch_paper("2501.19393", env=closed_port_env())


def test_a_server_that_does_not_answer_times_out():
    with paper_api(delay="3") as (env, _):
        with pytest.raises(PaperError, match="cannot reach the Crossref API"):
            fetch_paper("10.5555/12345678", env=env, timeout=0.5)


def test_defaults_are_the_public_apis(monkeypatch):
    asked = []

    def fake_get(url, what, contact, timeout):
        asked.append(url)
        raise PaperError("stop")  # never leave the machine

    monkeypatch.setattr(papers, "get", fake_get)
    for reference in ("2501.19393", "https://openreview.net/forum?id=x1", "10.5555/1"):
        with pytest.raises(PaperError):
            fetch_paper(reference, env={})
    assert asked == ["https://export.arxiv.org/api/query?id_list=2501.19393&max_results=1",
                     "https://api2.openreview.net/notes?id=x1",
                     "https://api.crossref.org/works/10.5555/1"]


def test_clean_abstract_keeps_only_real_paragraphs():
    assert papers.clean_abstract("a\nb  c\\\\d\\newline e") == "a b c d e"
    assert papers.clean_abstract("<p>one</p>\n<p>two</p>", markup=True) == "one\n\ntwo"
    assert papers.clean_abstract("  \n ") == ""


def test_comparisons_in_an_abstract_are_not_taken_for_tags():
    text = "for $a<b$ and $c>d$, x < y > z\nholds <i>here</i> &amp; there"
    assert papers.clean_abstract(text) == ("for $a<b$ and $c>d$, x < y > z holds <i>here</i> "
                                           "&amp; there")
    assert papers.clean_abstract(text, markup=True) == ("for $a<b$ and $c>d$, x < y > z "
                                                        "holds here & there")


# --- a hostile or broken server (attack run D24, D27) ------------------------------

def trickle(handler, *, headers_first: bool = True) -> None:
    """A byte every 0.2 s, for up to 30 s: each read is quick, the whole never ends."""
    if headers_first:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.flush()
        chunks = [b" "] * 150
    else:
        chunks = [bytes([c]) for c in b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" * 10]
    for chunk in chunks:
        handler.wfile.write(chunk)
        handler.wfile.flush()
        time.sleep(0.2)


@pytest.mark.parametrize("headers_first", [True, False], ids=["slow-body", "slow-headers"])
def test_one_deadline_bounds_the_whole_lookup(headers_first):
    with paper_api_hostile(lambda h: trickle(h, headers_first=headers_first)) as (env, _):
        started = time.monotonic()
        with pytest.raises(PaperError, match="no complete answer within 1.5 s"):
            fetch_paper("10.5555/12345678", env=env, timeout=1.5)
        assert time.monotonic() - started < 4


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_an_answer_over_the_cap_is_refused_without_reading_it(declared):
    size = 100 * 1024 * 1024

    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if declared:
            handler.send_header("Content-Length", str(size))
        handler.send_header("Connection", "close")
        handler.end_headers()
        block = b" " * (1 << 20)
        for _ in range(size >> 20):
            handler.wfile.write(block)

    with paper_api_hostile(huge) as (env, _):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with pytest.raises(PaperError, match=r"answer is larger than 8 MB"):
            fetch_paper("10.5555/12345678", env=env, timeout=20)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert grown < 60 * 1024, f"{grown} KB"  # the answer was 100 MB


def redirecting(location: str):
    def answer(handler):
        if handler.path.startswith("/crossref/works/"):
            send(handler, 302, b"", "text/plain", Location=location)
        else:
            send(handler, 200, crossref_work(), "application/json")
    return answer


def test_a_redirect_within_the_api_is_followed():
    with paper_api_hostile(redirecting("/moved/here")) as (env, seen):
        paper = fetch_paper("10.5555/12345678", env=env)
    assert paper.title == "A made-up title"
    assert [path for path, _ in seen.requests] == ["/crossref/works/10.5555/12345678", "/moved/here"]


@pytest.mark.parametrize("target", ["http://localhost:{port}/x", "ftp://127.0.0.1:{port}/x",
                                    "https://evil.example/x", "//evil.example/x",
                                    "file:///etc/passwd", "http://127.0.0.1:1/x"])
def test_a_redirect_away_from_the_api_is_refused(target):
    with paper_api_hostile(lambda h: None) as (other_env, other_seen):
        port = urllib.parse.urlsplit(other_env["FEEDS_CROSSREF_API"]).port
        with paper_api_hostile(redirecting(target.format(port=port))) as (env, seen):
            with pytest.raises(PaperError, match="redirected .* not followed"):
                fetch_paper("10.5555/12345678", env=env)
    assert len(seen.requests) == 1 and other_seen.requests == []


@pytest.mark.parametrize("reference, body, field", [
    ("10.5555/12345678", crossref_work(title={"x": 1}), "title"),
    ("10.5555/12345678", crossref_work(title=[["list"]]), "title"),
    ("10.5555/12345678", crossref_work(title=12), "title"),
    ("10.5555/12345678", crossref_work(abstract={"p": "text"}), "abstract"),
    ("10.5555/12345678", crossref_work(author=[{"given": {"x": 1}, "family": "B"}]), "author"),
    ("10.5555/12345678", crossref_work(author="Ada"), "author"),
    ("https://openreview.net/forum?id=abc", openreview_note(title={"x": 1}), "title"),
    ("https://openreview.net/forum?id=abc", openreview_note(title="T", authors=[{"n": 1}]),
     "authors"),
    ("https://openreview.net/forum?id=abc", openreview_note(title="T", abstract=["a"]),
     "abstract"),
])
def test_an_answer_of_the_wrong_shape_is_refused(reference, body, field):
    with paper_api_hostile(lambda h: send(h, 200, body)) as (env, _):
        with pytest.raises(PaperError, match=f"wrong shape: its {field}") as error:
            fetch_paper(reference, env=env)
    assert "{'x'" not in str(error.value) and "['list']" not in str(error.value)


def test_deeply_nested_json_is_a_clear_error():
    nested = b"[" * 100_000 + b"]" * 100_000
    with paper_api_hostile(lambda h: send(h, 200, nested)) as (env, _):
        with pytest.raises(PaperError, match="not JSON"):
            fetch_paper("10.5555/12345678", env=env)
