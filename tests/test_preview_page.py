"""The preview page's pure parts, by tables: a status as Mastodon renders it, the card from a
page's tags and what spoils it, images' sizes, an edit's changed words."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from crossposter.cli import main
from crossposter.exit_codes import EXIT_USAGE
from crossposter.preview_page.card import CardTags, PageOutcome, card_problems, card_tags, is_large
from crossposter.preview_page.images import MAX_INLINE_BYTES, image_size, inline
from crossposter.preview_page.render import safe_href
from crossposter.preview_page.status import (
    Marked,
    Segment,
    render_status,
    shortened_link,
    word_changes,
)
from crossposter.preview_page.view import (
    PLACEHOLDER_AVATAR,
    Identity,
    card_view,
    placeholder_identity,
)

from support.blog import blog_on
from support.feeds import rss
from support.pictures import png

INSTANCE = "https://mastodon.example"


@pytest.mark.parametrize(
    ("url", "shown", "cut"),
    [
        ("https://blog.example.org/a/", "blog.example.org/a/", False),
        ("https://www.blog.example.org/a/", "blog.example.org/a/", False),
        ("http://example.org", "example.org", False),
        # 30 characters after the prefix, then Mastodon's ellipsis.
        (
            "https://codingfield.com/blog/2026/11/infinitime-2-0/",
            "codingfield.com/blog/2026/11/i",
            True,
        ),
        ("https://abcdefghijklmnopqrstuvwxyz.org", "abcdefghijklmnopqrstuvwxyz.org", False),
        ("https://abcdefghijklmnopqrstuvwxyz1.org", "abcdefghijklmnopqrstuvwxyz1.or", True),
    ],
)
def test_links_are_shortened_as_mastodon_shows_them(url, shown, cut):
    assert shortened_link(url) == Segment("link", shown, href=url, cut=cut)


def test_a_link_mastodon_makes_of_another_scheme_is_shown_but_never_live():
    assert shortened_link("gemini://example.org/x") == Segment("link", "gemini://example.org/x")


@pytest.mark.parametrize(
    ("text", "paragraphs"),
    [
        ("One\n\nTwo", ((Segment("text", "One"),), (Segment("text", "Two"),))),
        (
            "Line one\nline two",
            ((Segment("text", "Line one"), Segment("br"), Segment("text", "line two")),),
        ),
        (
            "  \nTrimmed\n\n\n\nlike Ruby\n",
            ((Segment("text", "Trimmed"),), (Segment("text", "like Ruby"),)),
        ),
        (
            "#Python et #DéveloppementWeb",
            (
                (
                    Segment("hashtag", "Python", href=f"{INSTANCE}/tags/Python"),
                    Segment("text", " et "),
                    Segment(
                        "hashtag", "DéveloppementWeb", href=f"{INSTANCE}/tags/D%C3%A9veloppementWeb"
                    ),
                ),
            ),
        ),
        (
            "See https://blog.example.org/a#b now",
            (
                (
                    Segment("text", "See "),
                    # A fragment inside a URL is no hashtag.
                    Segment("link", "blog.example.org/a#b", href="https://blog.example.org/a#b"),
                    Segment("text", " now"),
                ),
            ),
        ),
        # A mention made inert is text; a live one is shown as a mention.
        (
            "Merci @\u2060alice@mastodon.social",
            ((Segment("text", "Merci @\u2060alice@mastodon.social"),),),
        ),
        ("Merci @alice", ((Segment("text", "Merci "), Segment("mention", "@alice")),)),
        # Markup in a toot is text: the template escapes it.
        ("<script>alert(1)</script>", ((Segment("text", "<script>alert(1)</script>"),),)),
        ("a.example is no link", ((Segment("text", "a.example is no link"),),)),
    ],
)
def test_a_status_is_rendered_as_mastodon_renders_it(text, paragraphs):
    assert render_status(text, INSTANCE) == paragraphs


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://blog.example.org/", True),
        ("HTTP://blog.example.org/", True),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>", False),
        ("//evil.example/", False),
        ("", False),
    ],
)
def test_only_http_addresses_become_links(url, kept):
    assert safe_href(url) == (url if kept else "")


PAGE = "https://blog.example.org/post/"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (
            '<meta property="og:title" content="OG title"><meta name="twitter:title" content="T">'
            "<title>Page title</title>"
            '<meta property="og:description" content="OG description">'
            '<meta name="description" content="Meta description">'
            '<meta property="og:image" content="/img/card.png">'
            '<meta property="og:site_name" content="Codingfield">'
            '<meta name="fediverse:creator" content="@jf@mastodon.codingfield.com">',
            CardTags(
                "OG title",
                "OG description",
                "https://blog.example.org/img/card.png",
                "Codingfield",
                "@jf@mastodon.codingfield.com",
                opengraph=True,
            ),
        ),
        (
            '<meta name="twitter:title" content="Twitter title"><title>Page title</title>'
            '<meta name="twitter:description" content="Twitter description">'
            '<meta name="twitter:image" content="https://cdn.example.org/t.png">',
            CardTags("Twitter title", "Twitter description", "https://cdn.example.org/t.png"),
        ),
        (
            "<title>\n  Page   title </title>"
            '<meta name="description" content="Meta &amp; description">',
            CardTags("Page title", "Meta & description"),
        ),
        # An empty tag gives way to the next; an image that is not http(s) is none.
        (
            '<meta property="og:title" content=" "><title>Fallback</title>'
            '<meta property="og:image" content="javascript:alert(1)">',
            CardTags("Fallback", opengraph=True),
        ),
        ("", CardTags()),
    ],
)
def test_the_card_is_built_from_the_tags_the_instance_reads(head, expected):
    html = f"<!DOCTYPE html><html><head>{head}</head><body><p>Hi</p></body></html>"
    assert card_tags(html, PAGE) == expected
    assert card_tags(html.encode(), PAGE) == expected


def test_a_page_in_latin_1_is_read_as_it_declares():
    html = '<html><head><meta charset="iso-8859-1"><title>Été</title></head></html>'
    assert card_tags(html.encode("latin-1"), PAGE).title == "Été"


@pytest.mark.parametrize(
    ("size", "large"),
    [((1200, 630), True), ((630, 1200), False), ((500, 500), False), (None, False)],
)
def test_the_card_is_large_when_its_image_is_wider_than_tall(size, large):
    assert is_large(size) is large


FULL = CardTags("T", "D", "https://blog.example.org/i.png", "S", "@jf@m.example", opengraph=True)
ANSWERED = PageOutcome(PAGE, PAGE, 200)
ME = "@jf@m.example"


@pytest.mark.parametrize(
    ("outcome", "tags", "size", "image_failure", "expected"),
    [
        (ANSWERED, FULL, (1200, 630), "", []),
        (
            PageOutcome(PAGE, failure="connection refused"),
            None,
            None,
            "",
            ["could not be read (connection refused)"],
        ),
        (PageOutcome(PAGE, PAGE, 404), None, None, "", ["HTTP 404"]),
        (
            PageOutcome(PAGE, "https://blog.example.org/new/", 200),
            FULL,
            (1200, 630),
            "",
            ["redirects to https://blog.example.org/new/"],
        ),
        (
            ANSWERED,
            CardTags("T", "D", "https://b.example/i.png", "S", ME),
            (1200, 630),
            "",
            ["no OpenGraph tags"],
        ),
        (
            ANSWERED,
            CardTags("T", "", FULL.image, "S", ME, True),
            (1200, 630),
            "",
            ["No description"],
        ),
        (ANSWERED, CardTags("T", "D", "", "S", ME, True), None, "", ["No image"]),
        (ANSWERED, FULL, (600, 900), "", ["600×900, not wider than tall"]),
        (ANSWERED, FULL, None, "HTTP 404", ["image could not be read (HTTP 404)"]),
        (
            ANSWERED,
            CardTags("T", "D", FULL.image, "S", "", True),
            (1200, 630),
            "",
            [f'<meta name="fediverse:creator" content="{ME}">'],
        ),
    ],
)
def test_what_spoils_a_card_is_said(outcome, tags, size, image_failure, expected):
    problems = card_problems(outcome, tags, size, image_failure, ME)
    assert len(problems) == len(expected)
    for problem, words in zip(problems, expected, strict=True):
        assert words in str(problem)


def _gif(width, height):
    return b"GIF89a" + struct.pack("<HH", width, height) + bytes(20)


def _jpeg(width, height):
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes(9)
    sof = b"\xff\xc2" + struct.pack(">HBHH", 17, 8, height, width) + bytes(12)
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def _webp(chunk, payload):
    body = b"WEBP" + chunk + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(3, 2), (3, 2)),
        (_gif(640, 480), (640, 480)),
        (_jpeg(1200, 630), (1200, 630)),
        (
            _webp(b"VP8X", bytes(4) + (1199).to_bytes(3, "little") + (629).to_bytes(3, "little")),
            (1200, 630),
        ),
        (_webp(b"VP8L", b"\x2f" + (399 | (299 << 14)).to_bytes(4, "little")), (400, 300)),
        (_webp(b"VP8 ", bytes(6) + struct.pack("<HH", 320, 240)), (320, 240)),
        (b"<html>not an image</html>", None),
        (b"\xff\xd8\xff", None),
    ],
)
def test_an_images_size_is_read_from_its_first_bytes(data, size):
    assert image_size(data) == size


def test_images_are_inlined_only_when_small_enough_and_images():
    small = png(2, 2)
    assert inline(small).startswith("data:image/png;base64,")
    assert inline(b"<svg onload=alert(1)>") is None
    assert inline(small + bytes(MAX_INLINE_BYTES)) is None


@pytest.mark.parametrize(
    ("before", "after", "removed", "added"),
    [
        ("Same text", "Same text", (Marked("Same text"),), (Marked("Same text"),)),
        (
            "Hello old world",
            "Hello new world",
            (Marked("Hello "), Marked("old", True), Marked(" world")),
            (Marked("Hello "), Marked("new", True), Marked(" world")),
        ),
        (
            "Title\n\nend",
            "Title\n\nmore end",
            (Marked("Title\n\n"), Marked("end")),
            (Marked("Title\n\n"), Marked("more ", True), Marked("end")),
        ),
        ("", "New", (), (Marked("New", True),)),
    ],
)
def test_an_edit_marks_the_words_it_changes(before, after, removed, added):
    assert word_changes(before, after) == (removed, added)


@pytest.mark.parametrize(
    "arguments",
    [
        ["--html", "page.html"],
        ["--loop", "--html", "page.html"],
        ["--dry-run", "--loop", "--html", "page.html"],
        ["--dry-run", "--open"],
        ["--html", "page.html", "--open"],
    ],
)
def test_a_page_goes_with_a_preview_only(arguments, tmp_path, caplog):
    assert main(["run", "--config", "nowhere.yaml", *arguments]) == EXIT_USAGE
    assert not (tmp_path / "page.html").exists()
    assert "--html" in caplog.text


def _local_feed(tmp_path) -> str:
    # The article's page is on a loopback address the public-address rule refuses at once.
    (tmp_path / "feed.xml").write_text(
        rss([{"title": "Hello", "link": "http://127.0.0.1:9/hello/", "guid": "1"}]),
        encoding="utf-8",
    )
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "instance: https://mastodon.example\nstate_file: state.sqlite3\n"
        "feeds:\n  - {name: blog, url: feed.xml, backfill: 1}\n",
        encoding="utf-8",
    )
    return str(config)


@pytest.mark.parametrize(("extra", "imported"), [([], "False"), (["--html", "p.html"], "True")])
def test_jinja2_is_imported_only_for_a_page(tmp_path, extra, imported):
    code = (
        "import sys\nfrom crossposter.cli import main\n"
        f"code = main(['run', '--dry-run', '--config', {_local_feed(tmp_path)!r}, *{extra!r}])\n"
        "print(code, 'jinja2' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout.split()[-2:] == ["0", imported]


def test_the_page_names_the_refused_address_and_the_text_preview_is_unchanged(
    tmp_path, capsys
):
    config = _local_feed(tmp_path)
    assert main(["run", "--dry-run", "--config", config]) == 0
    text = capsys.readouterr().out
    assert main(["run", "--dry-run", "--config", config, "--html", "p.html"]) == 0
    assert capsys.readouterr().out == text
    page = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert "127.0.0.1 is not a public address" in page
    assert "allow_private_urls_in_feeds: true" in page
    assert "<script" not in page


def test_open_hands_the_written_page_to_the_browser(tmp_path):
    opened = tmp_path / "opened"
    # webbrowser runs $BROWSER with the page's address in place of %s.
    browser = f"sh -c 'echo \"$0\" > {opened}' %s"
    code = (
        "from crossposter.cli import main\n"
        f"raise SystemExit(main(['run', '--dry-run', '--config', {_local_feed(tmp_path)!r},"
        " '--html', 'p.html', '--open']))"
    )
    environment = {**os.environ, "BROWSER": browser}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=environment)
    assert opened.read_text().strip() == (tmp_path / "p.html").resolve().as_uri()


def test_a_first_runs_page_says_what_it_would_record_and_shows_the_sample(tmp_path):
    config = _local_feed(tmp_path)
    Path(config).write_text(Path(config).read_text().replace(", backfill: 1", ""))
    assert main(["run", "--dry-run", "--config", config, "--html", "p.html"]) == 0
    page = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert "first run: would record 1 entry, announce none;" in page
    assert "sample (first run; not to be posted)" in page
    assert "<p>Hello</p>" in page


def test_a_quiet_run_keeps_the_accounts_picture_for_the_preview_and_check_fetches_its_own(
    tmp_path, api, feeds, token
):
    api.avatar = png(40, 40, (230, 120, 40))
    shown = inline(api.avatar)
    config, publish = blog_on(feeds, tmp_path, api)
    publish(1)
    assert main(["run", "--config", config]) == 0
    assert api.count("GET", "/avatars/original/missing.png") == 0  # a posting run only notes it
    publish(2, 1)
    assert main(["run", "--dry-run", "--config", config, "--html", "run.html"]) == 0
    html = (tmp_path / "run.html").read_text(encoding="utf-8")
    assert shown not in html and PLACEHOLDER_AVATAR in html and "Test bot" in html
    assert api.count("GET", "/avatars/original/missing.png") == 0  # a preview asks nothing

    publish(1)
    assert main(["run", "--config", config]) == 0  # nothing to post: it fetches the picture
    publish(2, 1)
    assert main(["run", "--dry-run", "--config", config, "--html", "run.html"]) == 0
    assert main(["check", "--config", config, "--html", "check.html"]) == 0

    for page in ("run.html", "check.html"):
        html = (tmp_path / page).read_text(encoding="utf-8")
        assert f'src="{shown}"' in html and "Test bot" in html
    # The quiet run's, then check's own: check asks the instance anyway.
    assert api.count("GET", "/avatars/original/missing.png") == 2
    api.avatar = None  # gone: check's page shows the placeholder, and says nothing of it
    assert main(["check", "--config", config, "--html", "check.html"]) == 0
    html = (tmp_path / "check.html").read_text(encoding="utf-8")
    assert shown not in html and PLACEHOLDER_AVATAR in html and "Test bot" in html


ME_SHOWN = placeholder_identity("https://mastodon.example")


@pytest.mark.parametrize(
    ("outcome", "tags", "image", "size", "expected"),
    [
        # The page names no site: Mastodon shows its host, without www.
        (
            PageOutcome("https://www.blog.example.org/a/", "https://www.blog.example.org/a/", 200),
            CardTags("T", "D", "https://www.blog.example.org/i.png", opengraph=True),
            "data:image/png;base64,AA",
            (1200, 630),
            ("blog.example.org", "T", True),
        ),
        # An image that could not be read leaves a small card with no picture.
        (ANSWERED, FULL, "", None, ("S", "T", False)),
        (ANSWERED, FULL, "data:image/png;base64,AA", (400, 400), ("S", "T", False)),
        # No page, no card: only the problem.
        (PageOutcome(PAGE, failure="timed out"), None, "", None, ("", "", False)),
        (PageOutcome(PAGE, PAGE, 410), None, "", None, ("", "", False)),
    ],
)
def test_the_card_shows_what_the_instance_will(outcome, tags, image, size, expected):
    card = card_view(outcome, tags, image, size, "", ME_SHOWN)
    assert (card.site_name, card.title, card.large) == expected
    assert card.shown is bool(expected[1])


def test_the_byline_advice_names_the_account_when_known_and_the_headers_placeholder_otherwise():
    known = Identity("Jean", "@jf@mastodon.example", known=True)
    tags = CardTags("T", "D", "", "S", opengraph=True)
    assert '"@jf@mastodon.example"' in str(card_view(ANSWERED, tags, "", None, "", known).problems)
    placeholder = card_view(ANSWERED, tags, "", None, "", ME_SHOWN).problems
    assert '"@you@mastodon.example"' in str(placeholder)
    assert ME_SHOWN.handle == "@you@mastodon.example"


def test_the_byline_problem_says_where_the_line_goes_and_to_list_the_domain():
    tags = CardTags("T", "D", "", "S", opengraph=True)
    (byline,) = [
        problem
        for problem in card_view(ANSWERED, tags, "", None, "", ME_SHOWN).problems
        if problem.code.startswith('<meta name="fediverse:creator"')
    ]
    assert byline.text.startswith('No byline: the card will not show "More from" your account')
    assert "<head> of the blog's pages" in byline.text
    assert "WordPress: in the theme's header.php" in byline.text
    assert "attribution domains (Preferences → Public profile → Verification" in byline.text
    assert "crossposter attribution --apply" in byline.text
