"""crossposter.compose.toot: an entry becomes a toot that reads well and that Mastodon accepts.

Lengths are checked with crossposter.compose.length.mastodon_length, the server's own count
(see tests/test_length.py for how that is verified)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crossposter.compose.hashtags import find_hashtags
from crossposter.compose.length import (
    find_mentions,
    find_urls,
    grapheme_count,
    mastodon_length,
)
from crossposter.compose.template import TemplateError, check_template
from crossposter.compose.text import WORD_JOINER, neutralize_link_mentions
from crossposter.compose.toot import UnpostableEntry, compose
from crossposter.config import FeedOptions
from crossposter.models import Entry, FeedInfo, InstanceLimits

from support.builders import MASTODON_LIMITS, make_entry, make_limits
from support.mentions import MENTION_RE

LINK = "https://blog.example.org/2024/03/un-article-de-blog/"
MASTODON = MASTODON_LIMITS
ENTITY = regex.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
MARKUP = regex.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")


# An entry of this blog: its fields as given, LINK unless another is.
entry = partial(make_entry, link=LINK)


def toot_for(options: FeedOptions | None = None, limits=MASTODON, feed=None, **fields):
    return compose(
        entry(**fields), feed or FeedInfo(title="Le blog"), options or FeedOptions(), limits
    )


def summary_part(text: str) -> str:
    """The summary paragraph(s) of a toot made with the default template."""
    return text.split("\n\n", 1)[1].rsplit(f"\n\n{LINK}", 1)[0]


# --- clean text from real feeds

# (engine, title, summary_html, content_html, must appear, must not appear)
REAL_SNIPPETS = [
    (
        "WordPress (French)",
        "L&#8217;été arrive&nbsp;!",
        "<p>Aujourd&#8217;hui, on parle de Python et de l&#8217;asynchrone&#160;: "
        "<code>asyncio</code> expliqué simplement. [&hellip;]</p>\n"
        '<p>Cet article <a href="https://blog.example.org/ete/">L&#8217;été arrive</a> est apparu '
        'en premier sur <a href="https://blog.example.org">Le blog</a>.</p>',
        "",
        ["L’été arrive\u00a0!", "Aujourd’hui, on parle de Python", "asyncio expliqué simplement"],
        ["&#8217;", "[…]", "[&hellip;]", "apparu en premier", "<code>"],
    ),
    (
        "WordPress (French, more link)",
        "Installer Debian",
        "<p>On installe Debian sur un vieux portable. "
        '<a href="https://blog.example.org/debian/" class="more-link">Continuer la lecture'
        '<span class="screen-reader-text"> de «&nbsp;Installer Debian&nbsp;»</span></a></p>',
        "",
        ["On installe Debian sur un vieux portable."],
        ["Continuer la lecture", "«"],
    ),
    (
        "WordPress (English)",
        "Hello &amp;amp; welcome",
        "<p>We shipped it! "
        '<img draggable="false" role="img" class="emoji wp-smiley" alt="🎉" '
        'src="https://s.w.org/images/core/emoji/14.0.0/svg/1f389.svg"> '
        "Here is what changed &#8230;</p>\n"
        '<p>The post <a rel="nofollow" href="https://blog.example.org/hello/">Hello</a> '
        'appeared first on <a rel="nofollow" href="https://blog.example.org">Example</a>.</p>',
        "",
        ["Hello & welcome", "We shipped it! 🎉 Here is what changed…"],
        ["The post", "appeared first", "&amp;", "<img"],
    ),
    (
        "WordPress (English, Continue reading)",
        "Release notes",
        '<p>Version 2 is out. <a href="https://blog.example.org/v2/">Continue reading '
        '<span class="meta-nav">&rarr;</span></a></p>',
        "",
        ["Version 2 is out."],
        ["Continue reading", "→"],
    ),
    (
        "Hugo (default RSS template: .Summary, no excerpt marker)",
        "Building a static site",
        '<h2 id="why">Why</h2>\n<p>Static sites are fast.</p>\n<p>They are also cheap to host '
        "and easy to back up.</p>\n<pre><code>hugo new site blog\n</code></pre>\n<p>More.</p>",
        "",
        # A heading is left out: run into the next sentence it would read as nonsense.
        ["Static sites are fast.", "They are also cheap to host", "More."],
        ["<h2", "Why", "hugo new site"],
    ),
    (
        "Jekyll (jekyll-feed, content only, opens with the title)",
        "Welcome to Jekyll!",
        "",
        '<h1 id="welcome">Welcome to Jekyll!</h1>\n<p>You’ll find this post in your '
        "<code>_posts</code> directory.</p>\n<script>alert(1)</script>"
        '<iframe src="https://www.youtube.com/embed/x"></iframe>',
        ["You’ll find this post in your _posts directory."],
        ["alert", "youtube", "Welcome to Jekyll!\n\nWelcome to Jekyll!"],
    ),
    (
        "Ghost",
        "Send emails without publishing",
        "<p>You can now choose whether or not to publish a post on your website.</p>"
        '<figure class="kg-card kg-image-card"><img alt="alt" class="kg-image" '
        'src="https://ghost.org/changelog/content/images/2021/10/email.png" width="2000">'
        "<figcaption>The new toggle</figcaption></figure>"
        "<p>Now you can send emails with private content that won&apos;t appear anywhere else.</p>",
        "",
        ["You can now choose", "won't appear anywhere else."],
        ["The new toggle", "&apos;", "kg-card"],
    ),
    (
        "Substack (subtitle as description, full post as content)",
        "A conversation about Keystone XL",
        "This past weekend, I was interviewed by Walt Hickey.",
        '<p>Hello, dear paid subscriber fam! <a href="https://heated.world/subscribe?utm_medium=rss'
        '&amp;utm_content=1">Subscribe</a></p>',
        ["This past weekend, I was interviewed by Walt Hickey."],
        ["paid subscriber", "utm_medium"],
    ),
]


@pytest.mark.parametrize(
    "title, summary_html, content_html, present, absent",
    [snippet[1:] for snippet in REAL_SNIPPETS],
    ids=[snippet[0] for snippet in REAL_SNIPPETS],
)
def test_real_snippets_read_like_a_person_wrote_them(
    title, summary_html, content_html, present, absent
):
    toot = toot_for(title=title, summary_html=summary_html, content_html=content_html)

    for text in present:
        assert text in toot.text
    for text in absent:
        assert text not in toot.text
    assert not MARKUP.search(toot.text)
    assert not ENTITY.search(toot.text)
    assert toot.text.endswith(LINK) or f"{LINK}\n\n#" in toot.text


def test_the_excerpt_is_preferred_to_the_full_content():
    toot = toot_for(
        title="T", summary_html="<p>The excerpt.</p>", content_html="<p>The whole article.</p>"
    )
    assert "The excerpt." in toot.text
    assert "whole article" not in toot.text


def test_with_only_full_content_its_first_paragraphs_are_the_summary():
    paragraphs = "".join(f"<p>Paragraph {n}.</p>" for n in range(1, 8))
    toot = toot_for(title="T", content_html=paragraphs)
    assert "Paragraph 1.\n\nParagraph 2.\n\nParagraph 3." in toot.text
    assert "Paragraph 4" not in toot.text


def test_a_summary_that_only_repeats_the_title_is_left_out():
    toot = toot_for(title="Notes du jour", summary_html="<p>Notes du jour</p>")
    assert toot.text == f"Notes du jour\n\n{LINK}"


def test_html_in_a_title_is_stripped_and_a_double_escaped_title_decoded():
    toot = toot_for(title="<b>L&amp;#8217;été</b> &amp;amp; <em>Python</em>")
    assert toot.text.startswith("L’été & Python\n\n")


# Problems found by reading every toot the corpus (tests/corpus) gives; each
# snippet is quoted from the feed named. (feed, summary_html, the summary expected)
CORPUS_SUMMARIES = [
    (
        # Omny (and Megaphone, Acast) append their privacy line to every episode.
        "feed-rs rss_2.0_spiegel",
        "Die wichtigsten Nachrichten aus der SPIEGEL-Redaktion. <br><br><p>See "
        '<a href="https://omnystudio.com/listener">omnystudio.com/listener</a> for privacy '
        "information.</p>",
        "Die wichtigsten Nachrichten aus der SPIEGEL-Redaktion.",
    ),
    (
        "made-up Megaphone episode",
        "<p>We talk about tests.</p><p>Learn more about your ad choices. Visit "
        "megaphone.fm/adchoices</p>",
        "We talk about tests.",
    ),
    (
        "made-up Acast episode",
        "<p>We talk about tests.</p><hr><p style='color:grey; font-size:0.75em;'> Hosted on "
        "Acast. See <a style='color:grey;' target='_blank' rel='noopener noreferrer' "
        "href='https://acast.com/privacy'>acast.com/privacy</a> for more information.</p>",
        "We talk about tests.",
    ),
    (
        # Folha: "Leia mais" followed by the time of publication.
        "rss-parser uolNoticias",
        "Já são mais de 500 mil testes completos no Match Eleitoral, ferramenta criada pela "
        "Folha. Leia mais (09/24/2018 - 19h22)",
        "Já são mais de 500 mil testes completos no Match Eleitoral, ferramenta criada pela Folha.",
    ),
    (
        # A "[…]" that lost its ellipsis to a charset conversion.
        "rss-parser uolNoticias",
        "<img src='https://static.congressoemfoco.uol.com.br/2018/09/bolsonaro-haddad.jpg' "
        'align="left" />  O candidato do PT, Fernando Haddad, aproxima-se de Bolsonaro com 22%, '
        "uma diferença de 3 pontos percentuais em [?]",
        "O candidato do PT, Fernando Haddad, aproxima-se de Bolsonaro com 22%, uma diferença "
        "de 3 pontos percentuais em…",
    ),
    (
        # The Guardian puts links to other articles inside its descriptions.
        "rss-parser guardian",
        "<p>The director of US Centers for Disease Control and Prevention has resigned.</p><p> "
        '<span>Related: </span><a href="https://www.theguardian.com/us-news/2017/dec/16/cdc-'
        "banned-words-fetus-transgender-diversity\">CDC banned words include 'diversity', "
        "'transgender' and 'fetus' – report</a> </p> <a href=\"https://www.theguardian.com/\">"
        "Continue reading...</a>",
        "The director of US Centers for Disease Control and Prevention has resigned.",
    ),
    (
        "rss-parser guardian",
        '<p>The decade was full of contradictions for young women.<br><br>More: <a href="https'
        '://www.theguardian.com/a">Frances Ryan on the 2000s</a> | <a href="https://www.the'
        'guardian.com/b">Liv Little on the 2010s</a></p><p>I began the 1990s at a disco.</p>',
        "The decade was full of contradictions for young women.\n\nI began the 1990s at a disco.",
    ),
    (
        # A byline is not a summary.
        "rss-parser uolNoticias (Reuters)",
        "Por Matt Spetalnick e Jason Szep",
        "",
    ),
    ("made-up English byline", "<p>By Jane Doe and John Smith</p><p>It rained.</p>", "It rained."),
]


@pytest.mark.parametrize(
    "summary_html, expected",
    [case[1:] for case in CORPUS_SUMMARIES],
    ids=[case[0] for case in CORPUS_SUMMARIES],
)
def test_what_the_corpus_showed_is_cleaned_from_summaries(summary_html, expected):
    toot = toot_for(title="Un titre", summary_html=summary_html)
    if expected:
        assert summary_part(toot.text) == expected
    else:
        assert toot.text == f"Un titre\n\n{LINK}"


def test_a_line_that_only_starts_like_a_related_link_is_kept():
    for text in (
        "More: the second release is out, and it is faster.",
        "Related: we now ship wheels for every platform.",
        "By the way, the release is out.",
        "Por fim, a versão saiu.",
    ):
        assert summary_part(toot_for(title="T", summary_html=f"<p>{text}</p>").text) == text


# --- hashtags


@pytest.mark.parametrize(
    "categories, options, expected",
    [
        (("Python", "Développement Web"), {}, ("#Python", "#DéveloppementWeb")),
        (("raspberry-pi", "Aujourd'hui"), {}, ("#RaspberryPi", "#Aujourdhui")),
        (("C++", "C#"), {"hashtag_map": {"C++": "Cpp", "c#": "CSharp"}}, ("#Cpp", "#CSharp")),
        (("C++",), {}, ("#C",)),
        (("Non classé", "Uncategorized", "Sin categoría", "Allgemein", "Linux"), {}, ("#Linux",)),
        (("Recettes", "Non classé"), {"skip_categories": ["Recettes"]}, ("#NonClassé",)),
        (("2024", "!!!", "Vie"), {}, ("#Vie",)),
        (("Café", "cafe", "CAFÉ"), {}, ("#Café",)),
        (tuple(f"Tag{n}" for n in range(9)), {}, tuple(f"#Tag{n}" for n in range(5))),
        (("A1", "B1", "C1"), {"max_hashtags": 2}, ("#A1", "#B1")),
        (("Python",), {"category_hashtags": False}, ()),
        (("Python",), {"hashtags": ["blog", "#Python"]}, ("#blog", "#Python")),
        ((), {"hashtags": ["Mon Blog"]}, ("#MonBlog",)),
    ],
)
def test_hashtags_from_categories(categories, options, expected):
    toot = toot_for(FeedOptions(**options), title="Titre", categories=categories)
    assert toot.hashtags == expected
    assert toot.text.endswith("\n\n" + " ".join(expected) if expected else LINK)


def test_a_category_too_long_to_read_as_a_hashtag_gives_none():
    # feed-rs rss_2.0_example_4 and rss-parser guardian: phrases, not topics.
    categories = (
        "Earthquake breaking news",
        "Minor World Earthquakes Magnitude -3.9",
        "Australian security and counter-terrorism",
        "Spárti",
    )
    toot = toot_for(title="Minor earthquake near Aris", categories=categories)
    assert toot.hashtags == ("#EarthquakeBreakingNews", "#Spárti")
    # Unless the user says what it becomes, or asks for it.
    mapped = {"Minor World Earthquakes Magnitude -3.9": "MinorWorldEarthquakesMagnitude39"}
    toot = toot_for(
        FeedOptions(hashtag_map=mapped, hashtags=["AustralianSecurityAndCounterTerrorism"]),
        title="Minor earthquake near Aris",
        categories=categories,
    )
    assert toot.hashtags == (
        "#AustralianSecurityAndCounterTerrorism",
        "#EarthquakeBreakingNews",
        "#MinorWorldEarthquakesMagnitude39",
        "#Spárti",
    )


def test_a_tag_already_in_the_title_or_summary_is_not_repeated():
    toot = toot_for(
        FeedOptions(hashtags=["Mastodon"]),
        title="Ce que #Python m'a appris",
        summary_html="<p>Une semaine avec #mastodon et #Rust.</p>",
        categories=("python", "Rust", "Linux"),
    )
    assert toot.text.endswith(f"{LINK}\n\n#Linux")
    assert [tag.casefold() for tag in find_hashtags(toot.text)] == [
        "python",
        "mastodon",
        "rust",
        "linux",
    ]


def test_a_tag_in_a_summary_that_gets_cut_off_stays_in_the_tag_line():
    words = "mot " * 150
    toot = toot_for(title="T", summary_html=f"<p>{words}#Python</p>", categories=("Python",))
    assert toot.text.endswith(f"{LINK}\n\n#Python")
    assert toot.length <= 500


def test_a_tag_in_the_template_is_not_repeated():
    options = FeedOptions(template="#blog {title} {url} {hashtags}", hashtags=["Blog"])
    toot = toot_for(options, title="T", categories=("Blog", "Vie"))
    assert toot.text == f"#blog T {LINK} #Vie"


# --- length budget


def words(count: int, word: str = "mot") -> str:
    return " ".join([word] * count)


def test_a_long_summary_uses_the_room():
    toot = toot_for(title="Un titre", summary_html=f"<p>{words(400)}</p>", categories=("Python",))
    assert 500 - len(" mot…") <= toot.length <= 500
    assert summary_part(toot.text).endswith("mot…")


def test_a_long_summary_ends_at_a_sentence_when_one_is_near():
    sentences = " ".join(["Une phrase de dix mots pour voir si ça coupe bien."] * 40)
    toot = toot_for(title="Un titre", summary_html=sentences)
    assert summary_part(toot.text).endswith("coupe bien…")
    assert toot.length >= 500 * 0.75


def test_on_a_larger_instance_the_whole_summary_fits():
    summary = words(400)
    toot = toot_for(limits=make_limits(5000), title="T", summary_html=summary)
    assert summary in toot.text


@pytest.mark.parametrize("summary_max", [0, 1, 10, 100])
def test_summary_max_asks_for_shorter(summary_max):
    toot = toot_for(FeedOptions(summary_max=summary_max), title="T", summary_html=words(400))
    summary = toot.text[len("T\n\n") : -len(LINK)].strip()
    assert grapheme_count(summary) <= summary_max
    if summary_max >= 10:
        assert summary.endswith("mot…")


def test_a_long_title_is_trimmed_only_when_it_alone_leaves_no_room():
    title = words(200, "Titre")
    toot = toot_for(title=title, summary_html="Résumé.", categories=("Python",))
    first_line = toot.text.split("\n\n")[0]
    assert first_line.endswith("Titre…")
    assert title.startswith(first_line[:-1])
    assert f"\n\n{LINK}\n\n#Python" in toot.text
    assert 480 <= toot.length <= 500


def test_a_title_that_fits_is_kept_whole_and_the_summary_gives_way():
    title = words(78, "Titre")  # 467 characters: with the link, 8 are left for a summary
    toot = toot_for(title=title, summary_html=words(100))
    assert toot.text == f"{title}\n\n{LINK}"


def test_category_tags_drop_from_the_end_but_configured_ones_stay():
    limits = make_limits(100)
    options = FeedOptions(hashtags=["MonBlog"], max_hashtags=10)
    categories = tuple(f"Catégorie{n}" for n in range(1, 10))
    toot = toot_for(
        options, limits, title="Un titre", summary_html="Un résumé.", categories=categories
    )

    tags = toot.text.split("\n\n")[-1].split()
    assert tags[0] == "#MonBlog"
    assert tags[1:] == [f"#Catégorie{n}" for n in range(1, len(tags))]
    assert len(tags) < 10
    assert toot.length <= 100
    assert "Un titre" in toot.text


def test_a_title_that_must_be_trimmed_shares_its_room_with_category_tags():
    limits = make_limits(60)
    options = FeedOptions(hashtags=["MonBlog", "Python"])
    categories = ("Linux", "Debian", "Logiciel libre")
    toot = toot_for(options, limits, title=words(20, "Titre"), categories=categories)
    # 16 characters are left for a title and category tags: the tags may take half.
    assert toot.text == f"Titre…\n\n{LINK}\n\n#MonBlog #Python #Linux"
    assert toot.length <= 60


def test_the_link_is_never_cut_even_when_urls_count_at_full_length():
    link = "https://blog.example.org/" + "/".join(["a-rather-long-path-segment"] * 12) + "/"
    pleroma = make_limits(500, url_cost=0)
    toot = compose(
        entry(link=link, title=words(50, "Titre"), summary_html=words(200)),
        FeedInfo(),
        FeedOptions(),
        pleroma,
    )
    assert len(link) > 300
    assert link in toot.text
    assert mastodon_length(toot.text, url_cost=0) <= 500


def test_a_link_longer_than_the_limit_cannot_be_posted():
    link = "https://blog.example.org/" + "x" * 600
    with pytest.raises(UnpostableEntry, match="500-character limit"):
        compose(entry(link=link), FeedInfo(), FeedOptions(), make_limits(500, url_cost=0))


def test_a_long_url_costs_the_instance_url_cost():
    link = "https://blog.example.org/" + "x" * 600
    toot = compose(entry(link=link, title="T"), FeedInfo(), FeedOptions(), MASTODON)
    assert toot.length == len("T\n\n") + 23


def test_the_content_warning_counts_toward_the_limit_at_its_literal_length():
    warning = "Spoilers: https://example.org/" + "x" * 100  # no URL discount in a warning
    toot = toot_for(FeedOptions(content_warning=warning), title="T", summary_html=words(300))
    assert toot.spoiler_text == warning
    assert grapheme_count(warning) + mastodon_length(toot.text) <= 500
    assert toot.length == mastodon_length(toot.text, warning)


def test_cjk_without_spaces_is_cut_between_characters():
    summary = "これは日本語の長い文章です" * 60
    toot = toot_for(title="日本語", summary_html=summary)
    cut = summary_part(toot.text)
    assert cut.endswith("…")
    assert summary.startswith(cut[:-1])
    assert 495 <= toot.length <= 500


def test_cjk_prefers_the_end_of_a_sentence():
    summary = "これは日本語の長い文章です。" * 60
    toot = toot_for(title="日本語", summary_html=summary)
    assert summary_part(toot.text).endswith("文章です…")
    assert toot.length >= 480


def test_emoji_sequences_are_never_split():
    family = "👨\u200d👩\u200d👧\u200d👦"
    flag = "🇫🇷"
    summary = (family + flag + "e\u0301") * 400  # no space anywhere
    toot = toot_for(title="Émoji", summary_html=summary)
    cut = summary_part(toot.text)[:-1]
    assert summary.startswith(cut)
    assert regex.fullmatch(rf"(?:{family}{flag}e\u0301)*(?:{family}(?:{flag})?)?", cut)
    assert 495 <= toot.length <= 500


def test_a_url_in_the_summary_is_never_cut():
    inner = "https://docs.example.org/guide/chapitre-" + "x" * 40
    summary = " ".join(f"voir {inner}{n} et" for n in range(60))
    toot = toot_for(title="T", summary_html=summary)
    for start, end in find_urls(summary_part(toot.text)):
        assert regex.fullmatch(rf"{regex.escape(inner)}\d+", summary_part(toot.text)[start:end])
    assert toot.length <= 500


def test_an_ellipsis_never_sticks_to_a_url_it_follows():
    summary = "Le lien https://docs.example.org/page " + words(300, "suite")
    toot = toot_for(FeedOptions(summary_max=40), title="T", summary_html=summary)
    assert "https://docs.example.org/page …" in toot.text
    assert "https://docs.example.org/page" in [toot.text[s:e] for s, e in find_urls(toot.text)]


def test_a_hashtag_in_a_text_without_spaces_is_never_cut():
    summary = "日本語" * 100 + " #日本語の長いハッシュタグ" + "です" * 200
    toot = toot_for(title="T", summary_html=summary, limits=make_limits(360))
    for name in find_hashtags(toot.text):
        assert name == "日本語の長いハッシュタグ"
    assert toot.length <= 360


def test_a_mention_in_the_summary_is_never_cut_nor_notifies():
    summary = " ".join(["merci à @alice@example.social et @bob"] * 40)
    toot = toot_for(title="Merci @carol", summary_html=summary)
    assert find_mentions(toot.text) == []
    assert f"@{WORD_JOINER}alice@example.social" in toot.text
    assert f"@{WORD_JOINER}carol" in toot.text
    assert toot.text.replace(WORD_JOINER, "").count("@alice@example.social") >= 5
    assert toot.length <= 500


def test_mentions_can_be_left_alone():
    toot = toot_for(
        FeedOptions(neutralize_mentions=False),
        title="T",
        summary_html="Merci @alice@example.social",
    )
    assert "Merci @alice@example.social" in toot.text
    assert len(find_mentions(toot.text)) == 1


def test_an_email_address_or_profile_url_is_not_touched():
    toot = toot_for(
        title="T", summary_html="Écrivez à moi@example.org ou https://example.social/@moi"
    )
    assert "moi@example.org ou https://example.social/@moi" in toot.text


# --- language, visibility, warnings


@pytest.mark.parametrize(
    "entry_language, feed_language, options, expected",
    [
        ("de", "fr-FR", {}, "de"),
        (None, "fr-FR", {}, "fr"),
        (None, "en_GB", {"language": "fr"}, "en"),
        (None, None, {"language": "fr"}, "fr"),
        ("en-US", "en", {"language": "fr", "force_language": True}, "fr"),
        (None, "zh-Hant-TW", {}, "zh-TW"),
        ("und", "French", {"language": "pt-BR"}, "pt"),
        (None, None, {}, None),
    ],
)
def test_language(entry_language, feed_language, options, expected):
    toot = toot_for(
        FeedOptions(**options), feed=FeedInfo(language=feed_language), language=entry_language
    )
    assert toot.language == expected


@pytest.mark.parametrize("visibility", ["public", "unlisted", "private", "direct", None])
def test_visibility_is_the_feed_setting(visibility):
    assert toot_for(FeedOptions(visibility=visibility)).visibility == visibility


def test_a_content_warning_for_every_entry():
    toot = toot_for(FeedOptions(content_warning="  Politique  "), title="T")
    assert toot.spoiler_text == "Politique"


@pytest.mark.parametrize(
    "categories, expected",
    [(("Politique", "Vie"), "CW"), (("  politique ",), "CW"), (("Vie",), "")],
)
def test_a_content_warning_only_for_some_categories(categories, expected):
    options = FeedOptions(content_warning="CW", content_warning_categories=["Politique"])
    assert toot_for(options, categories=categories).spoiler_text == expected


# --- templates and links


def test_every_template_field():
    options = FeedOptions(
        template="{feed_title} · {title} par {author}, le {published:%d/%m/%Y} "
        "({published}) [{categories}]\n{summary}\n{url}\n{hashtags}"
    )
    toot = toot_for(
        options,
        title="Titre",
        author="Ada",
        summary_html="Résumé.",
        categories=("Python", "Vie"),
        published=datetime(2024, 3, 9, 8, 30, tzinfo=UTC),
    )
    assert toot.text == (
        f"Le blog · Titre par Ada, le 09/03/2024 (2024-03-09) [Python, Vie]\nRésumé.\n{LINK}\n"
        "#Python #Vie"
    )


def test_empty_fields_leave_no_holes_and_never_say_none():
    options = FeedOptions(
        template="{title}\n\n{summary}\n\n{author} {published:%Y}\n\n{categories}\n\n{url}\n\n"
        "{hashtags}"
    )
    toot = compose(Entry(id="x", link=LINK), FeedInfo(title=None), options, MASTODON)  # type: ignore[arg-type]
    assert toot.text == LINK
    assert "None" not in toot.text


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "3 février 2025"), ("en", "3 February 2025"), ("de", "3. Februar 2025")],
)
def test_a_date_speaks_the_toots_language(language, expected):
    template = "{published:%-d %B %Y}" if language != "de" else "{published:%-d. %B %Y}"
    options = FeedOptions(template=template + " {url}", language=language)

    toot = toot_for(options, title="T", published=datetime(2025, 2, 3, 8, 0, tzinfo=UTC))

    assert toot.text == f"{expected} {LINK}"


def test_a_date_without_a_known_language_is_in_english_and_pads_as_asked():
    options = FeedOptions(
        template="{published:%A %e %b %Y, %H:%M, %-m/%d %%} {url}", detect_language=False
    )
    toot = toot_for(options, title="T", published=datetime(2025, 2, 3, 8, 5, tzinfo=UTC))
    assert toot.text == f"Monday  3 Feb 2025, 08:05, 2/03 % {LINK}"


@pytest.mark.parametrize(
    "template, message",
    [
        ("{published:%-d %Q} {url}", "%Q is not a date directive"),
        ("{published:%Y %} {url}", "% at the end is not a date directive"),
        ("{published:%-} {url}", "%- at the end is not a date directive"),
        ("{title} {nope} {url}", "unknown template field {nope}"),
        ("{title {url}", "malformed template"),
        ("{title}} {url}", "malformed template"),
        ("{title}", "must contain {url}"),
        ("", "must contain {url}"),
        ("{0} {url}", "not allowed"),
        ("{} {url}", "not allowed"),
        ("{title.upper} {url}", "not allowed"),
        ("{title!r} {url}", "conversions are not allowed"),
        ("{title} {url:.10}", "only {published} takes a format"),
        ("{title:>600} {url}", "only {published} takes a format"),
        ("{published:{title}} {url}", "cannot hold another field"),
    ],
)
def test_a_bad_template_is_refused_before_anything_is_posted(template, message):
    with pytest.raises(TemplateError, match=regex.escape(message)):
        check_template(template)
    with pytest.raises(ValidationError, match=regex.escape(message)):
        FeedOptions(template=template)


@pytest.mark.parametrize(
    "link",
    [
        None,
        "",
        "   ",
        "/relative/path",
        "mailto:a@b.org",
        "javascript:x",
        "http://[x/",
        "https://a]b/",
    ],
)
def test_an_entry_without_a_usable_link_cannot_be_posted(link):
    with pytest.raises(UnpostableEntry):
        toot_for(link=link, title="T")


@pytest.mark.parametrize(
    "link",
    [
        "https://blog.example.org/mon article/",
        "https://blog.example.org/tab\there/",
        "https://blog.example.org/\u202eexe.txt",  # RIGHT-TO-LEFT OVERRIDE
        "https://blog.example.org/\u2066isolate\u2069/",
        "https://blog.example.org/zero\u200bwidth/",
        "https://blog.example.org/word\u2060joiner/",
        "https://blog.example.org/\ufeffbom/",
        "https://blog.example.org/bell\x07/",
    ],
)
def test_a_link_that_would_not_show_what_it_links_to_cannot_be_posted(link):
    with pytest.raises(UnpostableEntry, match="link"):
        toot_for(link=link, title="T")


def test_whitespace_around_a_link_is_not_inside_it():
    toot = toot_for(link=f"  {LINK}\n", title="T")
    assert toot.text.endswith(LINK)


# Mastodon's own examples for Account::MENTION_RE (spec/models/account_spec.rb), as links.
@pytest.mark.parametrize(
    ("link", "posted"),
    [
        (
            "https://t.example/post-@Gargron@mastodon.social",
            "https://t.example/post-%40Gargron%40mastodon.social",
        ),
        ("https://t.example/a.@alice/", "https://t.example/a.%40alice/"),
        ("https://t.example/?q=x(@alice@example.com)", "https://t.example/?q=x(%40alice%40example.com)"),
        ("https://t.example/#@alice", "https://t.example/#%40alice"),
        ("https://medium.com/@alice/some-article#.abcdef123", None),
        ("https://t.example/mail/alice@example.com", None),
        ("https://t.example/?to=@alice", None),
        ("https://t.example/@alice@example.com", None),
        ("https://t.example/just-an-@-sign", None),
    ],
)
def test_a_link_mentions_no_one(link, posted):
    toot = toot_for(link=link, title="T")
    assert toot.text.endswith(posted or link)
    assert not MENTION_RE.search(toot.text)


def test_a_link_keeps_its_mentions_when_asked():
    link = "https://t.example/post-@Gargron@mastodon.social"
    toot = toot_for(FeedOptions(neutralize_mentions=False), link=link, title="T")
    assert toot.text.endswith(link)


def test_the_toot_reports_its_length_limit_and_hashtags():
    limits = make_limits(1000)
    toot = toot_for(limits=limits, title="T", summary_html="Un mot sur #Rust.", categories=("Vie",))
    assert toot.length == mastodon_length(toot.text)
    assert toot.limit == 1000
    assert toot.hashtags == ("#Rust", "#Vie")


# --- properties

PIECES = [
    "👨\u200d👩\u200d👧\u200d👦",
    "🏳\ufe0f\u200d🌈",
    "🇫🇷",
    "👍🏽",
    "e\u0301",
    "\u0301",
    "a\u0308\u0323",
    "שלום עולם",
    "مرحبا بالعالم",
    "\u200f",
    "日本語の文章です。",
    "中文没有空格",
    "한국어 문장",
    "https://example.org/a/b?c=d&e=f",
    "https://docs.example.com/" + "x" * 80,
    "http://localhost:8080/x",
    "example.com/no-scheme",
    "@alice@example.social",
    "@bob",
    "moi@example.org",
    "#Python",
    "#日本語",
    "#2024",
    "C++",
    "&amp;",
    "&#8217;",
    "<b>gras</b>",
    "[…]",
    "…",
    ".",
    "!",
    "?",
    "\n",
    "\n\n",
    "\u00a0",
    "None",
    "{title}",
]
texts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=60).map(
    lambda parts: " ".join(parts) if len(parts) % 2 else "".join(parts)
)
links = st.one_of(
    st.sampled_from(
        [
            LINK,
            "https://example.org/?p=1",
            "http://blog.example.co.uk/post(1)",
            "https://blog.example.org/" + "segment/" * 60,
            "http://127.0.0.1:8000/post/1",
            "https://xn--r-9fa.example/ä",
            "https://blog.example.org/a.",
        ]
    ),
    st.builds(
        lambda host, path: f"https://{host}.example.org/{path}",
        st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
        st.text(
            alphabet=st.characters(
                blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                # Links holding these cannot be posted (see the tests above).
                blacklist_characters="\u200b\u202a\u202b\u202c\u202d\u202e\u2060"
                "\u2066\u2067\u2068\u2069\ufeff",
            ),
            max_size=40,
        ),
    ),
)
limits_strategy = st.builds(
    InstanceLimits,
    max_characters=st.sampled_from([500, 500, 120, 60, 1000]),
    characters_reserved_per_url=st.sampled_from([23, 23, 0]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=texts,
    summary=texts,
    categories=st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=15)), max_size=8),
    link=links,
    limits=limits_strategy,
    options=st.builds(
        FeedOptions,
        hashtags=st.lists(st.sampled_from(["blog", "MonBlog", "Python", "日本"]), max_size=2),
        neutralize_mentions=st.booleans(),
        summary_max=st.one_of(st.none(), st.integers(0, 300)),
        content_warning=st.sampled_from(["", "", "CW: https://example.org/x 👨\u200d👩\u200d👧"]),
    ),
)
def test_any_entry_composes_within_the_limit_with_its_link_intact(
    title, summary, categories, link, limits, options
):
    item = Entry(id="x", link=link, title=title, summary_html=summary, categories=tuple(categories))
    url_cost = limits.characters_reserved_per_url
    if options.neutralize_mentions:
        link = neutralize_link_mentions(link)
    try:
        toot = compose(item, FeedInfo(title=title), options, limits)
    except UnpostableEntry:
        # Only when the link, the configured tags and the warning alone do not fit.
        least = f"{link}\n\n" + " ".join(f"#{tag}" for tag in dict.fromkeys(options.hashtags))
        warning = options.content_warning
        assert mastodon_length(least, warning, url_cost=url_cost) > limits.max_characters
        return

    assert toot.length == mastodon_length(toot.text, toot.spoiler_text, url_cost=url_cost)
    assert toot.length <= limits.max_characters
    assert link in toot.text
    if find_urls(link) == [(0, len(link))] and url_cost:
        start = toot.text.index(link)
        assert (start, start + len(link)) in find_urls(toot.text)
    if options.neutralize_mentions:
        assert find_mentions(toot.text) == []


@settings(max_examples=60, deadline=None)
@given(link=links, limits=limits_strategy, title=texts)
def test_composition_fails_only_when_the_link_alone_does_not_fit(link, limits, title):
    url_cost = limits.characters_reserved_per_url
    posted = neutralize_link_mentions(link)
    fits = mastodon_length(posted, url_cost=url_cost) <= limits.max_characters
    try:
        compose(Entry(id="x", link=link, title=title), FeedInfo(), FeedOptions(), limits)
    except UnpostableEntry:
        assert not fits
    else:
        assert fits
