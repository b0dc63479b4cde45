"""/atom.xml validated with lxml against our RELAX NG grammar for Atom 1.0
(tests/schemas/atom.rng, written from the rules of RFC 4287)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree

from helpers import NOW, ROOT, add_to_talk

SCHEMA_FILE = ROOT / "tests" / "schemas" / "atom.rng"
ATOM_NS = {"a": "http://www.w3.org/2005/Atom"}
LATER = NOW + timedelta(days=2, hours=3)
RECORDING = "https://example.org/rec"
PAST_TALK = "2026-03-09-wen"  # a past talk of the seed: gets a recording
UPCOMING_TALK = "2026-04-13-fischer"  # an upcoming one: gets cancelled

# A minimal Atom Feed Document with one entry, one element per line so that
# the error lines below point at the element that is wrong.
MINIMAL = """\
<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <id>urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6</id>
  <title>Example Feed</title>
  <updated>2026-04-01T12:00:00Z</updated>
  <author>
    <name>Jane Doe</name>
  </author>
  <link href="https://example.org/atom.xml" rel="self" type="application/atom+xml"/>
  <entry>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <title>An entry</title>
    <updated>2026-04-01T12:00:00+02:00</updated>
    <link href="https://example.org/entry"/>
    <content type="html">&lt;p&gt;Hello&lt;/p&gt;</content>
  </entry>
</feed>
"""

# Pieces of MINIMAL that the tests edit.
FEED_HEAD = """  <id>urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6</id>
  <title>Example Feed</title>
"""
CONTENT = '<content type="html">&lt;p&gt;Hello&lt;/p&gt;</content>'
ENTRY_LINK = '<link href="https://example.org/entry"/>'
# An Atom Entry Document: MINIMAL's entry as the root, with its own author.
ENTRY_DOCUMENT = (MINIMAL[MINIMAL.index("  <entry>"):MINIMAL.index("</feed>")]
                  .replace("<entry>", '<entry xmlns="http://www.w3.org/2005/Atom">')
                  .replace("<link ", "<author><name>Jane</name></author><link "))


@pytest.fixture(scope="module")
def schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMA_FILE)))


def parse(text: str | bytes) -> etree._ElementTree:
    data = text.encode("utf-8") if isinstance(text, str) else text
    parser = etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    return etree.ElementTree(etree.fromstring(data, parser))


def edit(old: str, new: str) -> str:
    """MINIMAL with one piece replaced: each invalid document differs from
    the valid one by a single defect."""
    assert MINIMAL.count(old) == 1, old
    return MINIMAL.replace(old, new)


def line_of(text: str, piece: str) -> int:
    return text[:text.index(piece)].count("\n") + 1


def assert_valid(schema: etree.RelaxNG, doc: etree._ElementTree) -> None:
    assert schema.validate(doc) is True, f"not valid Atom:\n{schema.error_log}"


def assert_invalid(schema: etree.RelaxNG, text: str, message: str, line: int) -> None:
    """`text` fails, with `message` among the errors and one error reported
    at `line` (libxml2 gives some errors line 0, so not all of them)."""
    assert schema.validate(parse(text)) is False, f"validated:\n{text}"
    errors = [(e.line, e.message) for e in schema.error_log]
    assert any(message in m for _, m in errors), errors
    assert line in {n for n, _ in errors}, errors


# --- the grammar ---------------------------------------------------------------

def test_the_schema_loads_with_lxml():
    schema = etree.RelaxNG(etree.parse(str(SCHEMA_FILE)))
    assert not schema.error_log  # no warnings while compiling either
    root = etree.parse(str(SCHEMA_FILE)).getroot()
    assert root.get("datatypeLibrary") == "http://www.w3.org/2001/XMLSchema-datatypes"
    assert "RFC 4287" in root.getprevious().text  # the comment on where it comes from


def test_a_minimal_feed_validates(schema):
    assert_valid(schema, parse(MINIMAL))


@pytest.mark.parametrize("edits", [
    # Children in any order: the feed's id and title after its entry.
    [(FEED_HEAD, ""), ("</entry>\n", "</entry>\n" + FEED_HEAD)],
    [(CONTENT, '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Hello</p>'
               '</div></content><summary type="text">Hi</summary>'
               "<published>2026-03-31T23:59:59.5-01:30</published>")],
    [(CONTENT, '<content src="https://example.org/talk.mp4" type="video/mp4"/>'
               "<summary>A video</summary>")],
    [(CONTENT, '<content type="image/svg+xml">'
               '<svg xmlns="http://www.w3.org/2000/svg"/></content>')],
    [(CONTENT, '<content type="image/png">iVBORw0KGgo=</content>')],
    [(CONTENT, '<content type="text/plain">Hello &lt;you&gt;</content>')],
    # Person constructs, categories, links with every attribute, the rest of
    # the feed metadata, a source.
    [("    <name>Jane Doe</name>\n", "    <name>Jane Doe</name><uri>https://example.org/jane</uri>"
                                    "<email>jane@example.org</email>\n")],
    [("</entry>", '<category term="ml" scheme="https://example.org/tags" label="ML"/>'
                  "<contributor><name>Bob</name></contributor></entry>")],
    [(ENTRY_LINK, '<link href="https://example.org/entry" rel="alternate"'
                  ' type="text/html; charset=utf-8" hreflang="en-GB" title="The entry"'
                  ' length="1024"/>'
                  '<link href="https://example.org/x" rel="http://example.org/r/x"/>')],
    [("  <entry>", '  <generator uri="https://example.org/gen" version="1.0">Gen</generator>'
                   "<icon>/icon.png</icon><logo>/logo.png</logo><rights>CC BY</rights>"
                   '<subtitle type="html">&lt;b&gt;Sub&lt;/b&gt;</subtitle>\n  <entry>')],
    [("</entry>", "<source><id>tag:example.org,2026:other</id><title>Elsewhere</title>"
                  "<author><name>Ann</name></author></source></entry>")],
    # Extension elements and foreign attributes; xml:base and xml:lang.
    [("</entry>", '<ext:rating xmlns:ext="urn:example:ext" ext:scale="5">4</ext:rating></entry>')],
    [('<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">',
      '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:ext="urn:example:ext" xml:lang=""'
      ' xml:base="https://example.org/" ext:flag="yes"><ext:thing><ext:x a="1"/>t</ext:thing>')],
], ids=["any-order", "xhtml-summary-published", "out-of-line-content", "xml-content",
        "base64-content", "text-content", "person", "category-contributor", "link-attributes",
        "feed-metadata", "source", "extension-element", "foreign-attributes"])
def test_what_rfc_4287_allows_validates(schema, edits):
    text = MINIMAL
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    assert_valid(schema, parse(text))


def test_an_entry_document_validates(schema):
    assert_valid(schema, parse(ENTRY_DOCUMENT))


def test_an_entry_without_id_fails(schema):
    text = edit("    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>\n", "")
    assert_invalid(schema, text, "Expecting an element id", line_of(text, "<entry>"))


def test_a_feed_with_two_titles_fails(schema):
    text = edit("  <title>Example Feed</title>\n",
                "  <title>Example Feed</title>\n  <title>Another title</title>\n")
    assert_invalid(schema, text, "Extra element title", line_of(text, "<feed "))


def test_a_link_without_href_fails(schema):
    text = edit('<link href="https://example.org/entry"/>', '<link rel="alternate"/>')
    assert_invalid(schema, text, "Element link failed to validate attributes",
                   line_of(text, '<link rel="alternate"/>'))


@pytest.mark.parametrize("date", ["yesterday", "2026-04-01", "2026-04-01 12:00:00Z",
                                  "2026-04-01T12:00:00", "2026-04-01t12:00:00z",
                                  "Wed, 01 Apr 2026 12:00:00 +0000"])
def test_an_updated_that_is_not_a_date_fails(schema, date):
    text = edit("<updated>2026-04-01T12:00:00+02:00</updated>", f"<updated>{date}</updated>")
    assert_invalid(schema, text, "Error validating datatype dateTime",
                   line_of(text, f"<updated>{date}</updated>"))


def test_content_of_type_foo_fails(schema):
    text = edit(CONTENT, '<content type="foo">Hello</content>')
    assert_invalid(schema, text, "Invalid attribute type for element content",
                   line_of(text, '<content type="foo">'))


@pytest.mark.parametrize("content, message", [
    ('<content type="HTML">Hello</content>', "Invalid attribute type"),
    ('<content type="multipart/mixed">aGk=</content>', "Invalid attribute type"),
    ('<content type="image/png">not base64!</content>', "Invalid attribute type"),
    ('<content type="text/plain">Hi <b>you</b></content>', "Element content has extra content: b"),
    ('<content src="https://example.org/a" type="text"/>', "Invalid attribute src"),
    ('<content src="https://example.org/a">Hi</content>', "Invalid attribute src"),
    ('<content type="text">Hello <b>you</b></content>', "Element content has extra content: b"),
], ids=["HTML", "composite-type", "not-base64", "text-type-with-markup", "src-with-type-text",
        "src-not-empty", "text-with-markup"])
def test_content_that_breaks_the_rules_of_its_type_fails(schema, content, message):
    text = edit(CONTENT, content)
    assert_invalid(schema, text, message, line_of(text, "<content"))


@pytest.mark.parametrize("old, new, message", [
    ("<id>urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6</id>", "<id>feed-1</id>",
     "datatype anyURI"),  # an id is an absolute IRI
    ("    <name>Jane Doe</name>\n", "    <email>jane@example.org</email>\n",
     "Expecting an element name"),
    (ENTRY_LINK, '<link href="https://example.org/entry" length="big"/>',
     "Invalid attribute length"),
    (ENTRY_LINK, '<category scheme="https://example.org/t"/>',
     "Element category failed to validate attributes"),
    (ENTRY_LINK, "<generator>Gen</generator>",
     "Element entry has extra content: generator"),  # feed metadata only
    (ENTRY_LINK, "<bogus>?</bogus>",
     "Element entry has extra content: bogus"),  # not an Atom element
    ('xml:lang="en"', 'xml:lang="en" version="1.0"', "Invalid attribute version for element feed"),
    ("<title>Example Feed</title>", "<title>Example <b>Feed</b></title>",
     "Element title has extra content: b"),
], ids=["relative-id", "person-without-name", "link-length", "category-without-term",
        "generator-in-entry", "unknown-atom-element", "unknown-attribute", "markup-in-text"])
def test_other_violations_of_rfc_4287_fail(schema, old, new, message):
    text = edit(old, new)
    assert schema.validate(parse(text)) is False, text
    assert message in str(schema.error_log), str(schema.error_log)


# --- the app's feed ----------------------------------------------------------------

def atom(client) -> etree._ElementTree:
    response = client.get("/atom.xml")
    assert response.status_code == 200
    return parse(response.data)


def test_the_real_feed_validates(schema, client, seed):
    doc = atom(client)
    assert_valid(schema, doc)
    assert len(doc.xpath("/a:feed/a:entry", namespaces=ATOM_NS)) == len(seed.talks)


def test_the_real_feed_fails_once_broken(schema, client):
    """The grammar does look at the app's entries: without an id, one fails."""
    doc = atom(client)
    entry = doc.xpath("/a:feed/a:entry", namespaces=ATOM_NS)[0]
    entry.remove(entry.find("a:id", ATOM_NS))
    assert schema.validate(doc) is False
    assert "Expecting an element id" in str(schema.error_log)


def test_the_real_feed_validates_with_a_recording_and_a_cancelled_talk(
        schema, data_file, make_app, clock):
    client = make_app().test_client()
    before = atom(client)
    assert_valid(schema, before)

    add_to_talk(data_file, PAST_TALK, f"recording: {RECORDING}")
    add_to_talk(data_file, UPCOMING_TALK, "status: cancelled")
    clock.now = LATER
    for app_client in (client, make_app().test_client()):  # reloaded and fresh
        doc = atom(app_client)
        assert_valid(schema, doc)
        titles = doc.xpath("//a:entry/a:title/text()", namespaces=ATOM_NS)
        # the recording's entry and the cancellation's
        assert len(titles) == len(before.xpath("//a:entry", namespaces=ATOM_NS)) + 2
        assert any(t.startswith("Recording: ") for t in titles)
        [cancelled] = doc.xpath("//a:entry[contains(a:id, $t) and not(contains(a:id, '/revision/'))]"
                                "/a:title/text()", namespaces=ATOM_NS, t=UPCOMING_TALK)
        assert "cancelled" in cancelled.lower()
        assert any(t.startswith("Cancelled: ") for t in titles)
        assert doc.xpath("//a:entry/a:link/@href", namespaces=ATOM_NS).count(RECORDING) == 1
