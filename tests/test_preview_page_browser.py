"""The preview page in a real browser: Debian's headless Chromium, driven by Selenium.

Each page is made by the command a person runs (`run --dry-run --html`, `check --html`)
from feeds, article pages and images on the loopback feed server, then loaded from its
file. What is checked is what the browser rendered: the DOM, what is visible, the images
it decoded, its console, and every request it made (DevTools' network log). Screenshots
of each page are kept as artifacts (see `screenshot`).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from crossposter.cli import main
from crossposter.models import Toot
from crossposter.preview_page.card import CardTags, PageOutcome
from crossposter.preview_page.images import image_size, inline
from crossposter.preview_page.render import render_page
from crossposter.preview_page.view import (
    FeedSection,
    Page,
    card_view,
    placeholder_identity,
    toot_view,
)
from crossposter.state import now_utc

from support.blog import article, blog_on, write_config
from support.feeds import rss
from support.pictures import png

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
INSTALL = "sudo apt install chromium chromium-driver"
# No first-run work, no background traffic of the browser's own: any request is the page's.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=720,1000",
    "--hide-scrollbars",
)
INTERNAL = ("chrome://", "chrome-untrusted://", "devtools://")
# Where screenshots are also copied, for a person to look at (the README's comes from here).
SCREENSHOT_DIR = os.environ.get("PREVIEW_SCREENSHOT_DIR")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        message = f"the preview page is tested in headless Chromium: {INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(dir=tmp_path_factory.mktemp("chromium"))
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.get("about:blank")  # the browser's own start-up pages, before any test's
    try:
        yield driver
    finally:
        driver.quit()


class Loaded:
    """A page as the browser rendered it, and what it asked for while loading."""

    def __init__(self, driver, path: Path):
        driver.get_log("performance")  # what came before is another page's
        driver.get_log("browser")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        driver.get(path.resolve().as_uri())
        self.driver = driver
        self.path = path
        self.requests = [
            message["params"]["request"]["url"]
            for message in (
                json.loads(entry["message"])["message"] for entry in driver.get_log("performance")
            )
            if message["method"] == "Network.requestWillBeSent"
        ]
        self.console = driver.get_log("browser")

    def all(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def one(self, selector: str):
        found = self.all(selector)
        assert len(found) == 1, f"{len(found)} elements match {selector}"
        return found[0]

    def text(self, selector: str) -> str:
        return self.one(selector).get_attribute("textContent").strip()

    def js(self, script: str, *args):
        # WebDriver's own scripts: the page's CSP forbids the page any script of its own.
        return self.driver.execute_script(script, *args)

    def assert_self_contained(self) -> None:
        """Nothing asked of any server: the page's own file, and data: images within it.

        The browser's own pages (chrome://, loaded by its start-up) never leave it."""
        page = self.path.resolve().as_uri()
        elsewhere = [
            url for url in self.requests if url != page and not url.startswith(("data:", *INTERNAL))
        ]
        assert elsewhere == []
        assert page in self.requests
        # No CSP violation, no failed load, no error of any kind.
        assert [entry for entry in self.console if entry["level"] != "INFO"] == []
        assert self.js("return document.scripts.length") == 0

    def screenshot(self, name: str, *, dark: bool = False) -> Path:
        """A PNG of the whole page, kept beside the test's files (and in SCREENSHOT_DIR)."""
        driver = self.driver
        if dark:
            driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia",
                {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
            )
        width, height = self.js(
            "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight]"
        )
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        target = self.path.parent / f"{name}.png"
        target.write_bytes(base64.b64decode(shot["data"]))
        if SCREENSHOT_DIR:
            Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
            shutil.copy(target, Path(SCREENSHOT_DIR) / target.name)
        return target


def card_page(
    title: str = "",
    description: str = "",
    image: str = "",
    creator: str = "",
    site: str = "",
    head: str = "",
) -> str:
    tags = [
        f'<meta property="og:{name}" content="{value}">'
        for name, value in (
            ("title", title),
            ("description", description),
            ("image", image),
            ("site_name", site),
        )
        if value
    ]
    if creator:
        tags.append(f'<meta name="fediverse:creator" content="{creator}">')
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>{''.join(tags)}{head}</head>"
        "<body><p>The article.</p></body></html>"
    )


def serve_page(feeds, path: str, html: str) -> None:
    feeds.set_feed(path, html, content_type="text/html; charset=utf-8")


def dry_run_page(config: str, tmp_path: Path, name: str) -> Path:
    page = tmp_path / f"{name}.html"
    assert main(["run", "--dry-run", "--config", config, "--html", str(page)]) == 0
    return page


FRENCH = {
    "title": "InfiniTime 2.0 : l’été des nouveautés",
    "description": "<p>La version 2.0 d’InfiniTime est enfin là ! Au programme : un nouveau "
    "gestionnaire de notifications et une autonomie doublée.</p>",
    "categories": ["Développement Web", "PineTime"],
    "language": "fr",
}


def test_a_french_article_with_its_image_card_and_byline(tmp_path, feeds, browser):
    feeds.set_feed("/img/montre.png", png(64, 48, (80, 160, 120)), content_type="image/png")
    feeds.set_feed("/img/card.png", png(120, 63, (99, 100, 255)), content_type="image/png")
    feeds.set_feed(
        "/infinitime/",
        card_page(
            title="InfiniTime 2.0 : l’été des nouveautés",
            description="Notifications, autonomie et Bluetooth LE Audio : tout ce qui change.",
            image="/img/card.png",
            creator="@jf@mastodon.codingfield.com",
            site="Codingfield",
        ),
        content_type="text/html; charset=utf-8",
    )
    item = article(
        1,
        link=feeds.url("/infinitime/"),
        enclosure={"url": feeds.url("/img/montre.png"), "type": "image/png"},
        **FRENCH,
    )
    feeds.set_feed("/feed", rss([item], language="fr"))
    config = write_config(
        tmp_path,
        _no_api(),
        f"- {{name: codingfield, url: '{feeds.url('/feed')}', backfill: 1, image: true}}",
        allow_private_urls_in_feeds=True,
    )

    page = Loaded(browser, dry_run_page(config, tmp_path, "french-article"))

    page.assert_self_contained()
    paragraphs = [p.text for p in page.all(".status__content p")]
    assert paragraphs[0] == "InfiniTime 2.0 : l’été des nouveautés"
    assert paragraphs[1].startswith("La version 2.0 d’InfiniTime est enfin là !")
    assert [a.text for a in page.all(".status__content a.hashtag")] == [
        "#DéveloppementWeb",
        "#PineTime",
    ]
    # A loopback address is no link to Mastodon (no domain): shown as the text it is.
    assert paragraphs[2] == feeds.url("/infinitime/")
    assert page.text(".status-card__title") == "InfiniTime 2.0 : l’été des nouveautés"
    assert page.text(".status-card__description").startswith("Notifications, autonomie")
    assert page.text(".status-card__host") == "Codingfield"
    assert page.text(".byline") == "@jf@mastodon.codingfield.com"
    assert "large" in page.one(".status-card").get_attribute("class")
    # With an image, Mastodon shows it and no card under the toot: the card is set apart.
    assert page.all(".card-aside .status-card") == [page.one(".status-card")]
    card_image = page.one(".status-card__image img")
    assert page.js("return arguments[0].naturalWidth", card_image) == 120
    # The toot's own image, with its alt text behind the ALT badge.
    image = page.one(".media img")
    assert page.js("return arguments[0].naturalWidth", image) == 64
    assert image.get_attribute("alt") == FRENCH["title"]
    page.screenshot("french-article")
    background = "return getComputedStyle(document.body).backgroundColor"
    assert page.js(background) == "rgb(239, 243, 245)"
    page.screenshot("french-article-dark", dark=True)
    # Light and dark follow the reader's system setting.
    assert page.js(background) == "rgb(25, 27, 34)"
    alt = page.one(".media details.alt p")
    assert not alt.is_displayed()
    page.one(".media details.alt summary").click()
    assert alt.is_displayed() and alt.text == FRENCH["title"]
    meter = page.one(".meter")
    assert meter.text.endswith(" / 500") and "over" not in meter.get_attribute("class")
    facts = page.text(".facts")
    assert "language fr" in facts and "visibility account default" in facts
    assert page.all(".card-problems") == []
    assert "dry run: 1 toot would be posted" in page.text(".outcome")


def test_a_content_warning_is_folded_until_shown(tmp_path, feeds, browser):
    serve_page(feeds, "/1/", card_page(title="Spoilers", description="The end.", image=""))
    feeds.set_feed("/feed", rss([article(1, link=feeds.url("/1/"), title="Season finale")]))
    config = write_config(
        tmp_path,
        _no_api(),
        f"- {{name: tv, url: '{feeds.url('/feed')}', backfill: 1, "
        "content_warning: 'Spoilers: season 2'}",
        allow_private_urls_in_feeds=True,
    )

    page = Loaded(browser, dry_run_page(config, tmp_path, "content-warning"))

    page.assert_self_contained()
    spoiler = page.one("details.spoiler")
    assert spoiler.get_attribute("open") is None
    assert page.text(".spoiler-text") == "Spoilers: season 2"
    content = page.one(".status__content")
    assert not content.is_displayed()
    page.screenshot("content-warning")
    page.one("details.spoiler summary").click()
    assert content.is_displayed() and "Season finale" in content.text


def _no_api():
    class Nowhere:
        # A preview never contacts the instance: an address nothing listens on proves it.
        base_url = "http://127.0.0.1:9"

    return Nowhere()


def _posted_blog(tmp_path, api, feeds):
    """Article 2 announced with a typo in its title, through the loopback API."""

    def publish(*items):
        feeds.set_feed("/feed", rss(list(items)), etag=False, last_modified=False)

    def post(n, **fields):
        return article(n, link=feeds.url(f"/{n}/"), **fields)

    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}', on_change: edit, on_remove: delete}}",
        allow_private_urls_in_feeds=True,
    )
    publish(post(1))
    assert main(["run", "--config", config]) == 0
    publish(post(2, title="Artcile 2 is out"), post(1))
    assert main(["run", "--config", config]) == 0
    return config, publish, post


def test_an_edit_shows_both_toots_with_the_changed_words_marked(
    tmp_path, api, feeds, token, browser
):
    config, publish, post = _posted_blog(tmp_path, api, feeds)
    publish(post(2, title="Article 2 is out"), post(1))

    page = Loaded(browser, dry_run_page(config, tmp_path, "edit"))

    page.assert_self_contained()
    assert [d.text for d in page.all(".side.before del")] == ["Artcile"]
    assert [i.text for i in page.all(".side.after ins")] == ["Article"]
    assert "Artcile 2 is out" in page.text(".side.before")
    assert "1 would be edited" in page.text(".outcome")
    page.screenshot("edit")
    assert api.count("PUT") == 0


def test_a_deletion_lists_the_toot_it_removes(tmp_path, api, feeds, token, browser):
    config, publish, post = _posted_blog(tmp_path, api, feeds)
    publish(post(1))  # article 2 left the feed, and its link answers 404
    # The site's home page answers: a site answering 404 everywhere deletes nothing.
    feeds.set_feed("/", "<html>home</html>", content_type="text/html")
    from crossposter.config import load_settings
    from crossposter.pipeline import run

    earlier = now_utc() - timedelta(hours=2)
    assert run(load_settings(config), clock=lambda: earlier).exit_code == 0

    page = Loaded(browser, dry_run_page(config, tmp_path, "deletion"))

    page.assert_self_contained()
    assert "would be deleted" in page.text(".deletion-banner")
    gone = page.one(".deletion article.status")
    assert "Artcile 2 is out" in gone.text
    assert "1 would be deleted" in page.text(".outcome")
    page.screenshot("deletion")
    assert api.deleted == []


def test_an_article_without_opengraph_tags_gets_a_plain_card_and_the_advice(
    tmp_path, feeds, browser
):
    feeds.set_feed(
        "/plain/",
        "<html><head><title>A plain page</title>"
        '<meta name="description" content="Only the basics."></head><body>Hi</body></html>',
        content_type="text/html",
    )
    feeds.set_feed("/feed", rss([article(1, link=feeds.url("/plain/"))]))
    config = write_config(
        tmp_path,
        _no_api(),
        f"- {{name: plain, url: '{feeds.url('/feed')}', backfill: 1}}",
        allow_private_urls_in_feeds=True,
    )

    page = Loaded(browser, dry_run_page(config, tmp_path, "no-opengraph"))

    page.assert_self_contained()
    assert page.text(".status-card__title") == "A plain page"
    assert page.text(".status-card__description") == "Only the basics."
    assert "small" in page.one(".status-card").get_attribute("class")
    problems = [li.text for li in page.all(".card-problems li")]
    assert any("no OpenGraph tags" in p for p in problems)
    assert any(p.startswith("No image") for p in problems)
    assert any('<meta name="fediverse:creator" content="@you@127.0.0.1:9">' in p for p in problems)
    page.screenshot("no-opengraph")


def test_a_page_that_does_not_answer_or_redirects_is_said(tmp_path, feeds, browser):
    serve_page(feeds, "/new/", card_page(title="Moved", description="Here now.", image=""))
    feeds.set_redirect("/old/", "/new/")
    feeds.set_status("/down/", 503)
    feeds.set_feed(
        "/feed",
        rss([article(2, link=feeds.url("/old/")), article(1, link=feeds.url("/down/"))]),
    )
    config = write_config(
        tmp_path,
        _no_api(),
        f"- {{name: moves, url: '{feeds.url('/feed')}', backfill: 2}}",
        allow_private_urls_in_feeds=True,
    )

    page = Loaded(browser, dry_run_page(config, tmp_path, "redirect-and-down"))

    page.assert_self_contained()
    problems = [li.text for li in page.all(".card-problems li")]
    assert any(f"redirects to {feeds.url('/new/')}" in p for p in problems)
    assert any("HTTP 503" in p for p in problems)
    assert len(page.all(".no-card")) == 1


HOSTILE = "<script>document.title='PWNED'</script>"


def test_a_hostile_feed_and_page_run_nothing_and_reach_nothing(tmp_path, feeds, browser):
    canary = feeds.url("/canary")
    feeds.set_feed(
        "/evil/",
        card_page(
            title=f"&quot;&gt;{HOSTILE.replace('<', '&lt;').replace('>', '&gt;')}",
            description=f"&lt;img src={canary} onerror=&quot;document.title='PWNED'&quot;&gt;",
            image="javascript:alert(1)",
            creator="&lt;script&gt;alert(1)&lt;/script&gt;",
            site="&lt;b onmouseover=alert(1)&gt;",
        ),
        content_type="text/html",
    )
    item = article(
        1,
        link=feeds.url("/evil/"),
        # Escaped twice: once decoded, the title reads as markup.
        title="&amp;lt;script&amp;gt;document.title='PWNED'&amp;lt;/script&amp;gt; News",
        description=f'<p>Click <a href="javascript:alert(1)">here</a>'
        f'<img src="{canary}" onerror="alert(1)"> javascript:alert(2)</p>',
        categories=["<script>x</script>"],
    )
    feeds.set_feed(
        "/feed",
        rss([item], title=f"Evil {HOSTILE} <a href='javascript:alert(3)'>blog</a>"),
    )
    config = write_config(
        tmp_path,
        _no_api(),
        f"- {{name: evil, url: '{feeds.url('/feed')}', backfill: 1, "
        'template: "{feed_title}: {title}\\n\\n{summary}\\n\\n{url}"}',
        allow_private_urls_in_feeds=True,
    )
    page_file = dry_run_page(config, tmp_path, "hostile")
    before = feeds.count(path="/canary")

    page = Loaded(browser, page_file)

    page.assert_self_contained()
    assert feeds.count(path="/canary") == before == 0
    assert page.js("return document.title") == "crossposter preview"
    assert (
        page.js("return document.querySelectorAll('[onerror],[onmouseover],[onload]').length") == 0
    )
    hrefs = page.js("return [...document.querySelectorAll('[href]')].map(e => e.href)")
    assert hrefs and all(href.startswith("http://127.0.0.1") for href in hrefs)
    # What the feed and the page said is shown, as text (compose stripped the title's tags).
    assert "javascript:alert(2)" in page.one(".status__content").text
    assert "<script>" in page.text(".status-card__title")
    assert "onerror" in page.text(".status-card__description")
    csp = page.one("meta[http-equiv='Content-Security-Policy']").get_attribute("content")
    assert csp == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    page.screenshot("hostile")


def test_the_meter_turns_red_over_the_instances_limit(tmp_path, browser):
    identity = placeholder_identity("https://mastodon.example")
    toots = [
        toot_view(
            "blog",
            title,
            "https://blog.example.org/",
            Toot(text="x " * (length // 2), length=length, limit=500),
            identity=identity,
            instance_url="https://mastodon.example",
        )
        for title, length in (("fits", 312), ("too long", 512))
    ]
    path = tmp_path / "meter.html"
    path.write_text(
        render_page(Page("crossposter preview", "", [FeedSection("blog", toots=toots)])),
        encoding="utf-8",
    )

    page = Loaded(browser, path)

    page.assert_self_contained()
    fits, over = page.all(".meter")
    assert (fits.text, over.text) == ("312 / 500", "512 / 500")
    color = "return getComputedStyle(arguments[0]).color"
    assert page.js(color, over) == "rgb(223, 64, 90)"
    assert page.js(color, fits) != page.js(color, over)


def test_check_shows_each_feeds_newest_article_with_its_card(tmp_path, api, feeds, token, browser):
    serve_page(feeds, "/2/", card_page(title="Second", description="The newest.", image=""))
    feeds.set_feed("/feed", rss([article(2, link=feeds.url("/2/")), article(1)]))
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}'}}",
        allow_private_urls_in_feeds=True,
    )
    path = tmp_path / "check.html"

    assert main(["check", "--config", config, "--html", str(path)]) == 0
    page = Loaded(browser, path)

    page.assert_self_contained()
    assert page.text(".status-note") == "newest article, as it would be announced"
    assert page.text(".status-card__title") == "Second"
    handle = page.text(".display-name span")
    assert handle.startswith("@") and not handle.startswith("@you@")
    problems = " ".join(li.text for li in page.all(".card-problems li"))
    assert f'content="{handle}"' in problems
    page.screenshot("check")


def test_links_hashtags_and_a_large_card_as_mastodon_shows_them(tmp_path, browser):
    """A toot as a real blog's would be (links on a real domain, which Mastodon links),
    laid out from the same views the commands make: the README's screenshot."""
    instance = "https://mastodon.codingfield.com"
    article_url = "https://codingfield.com/blog/2026/11/infinitime-2-0/"
    identity = placeholder_identity(instance)
    text = (
        "InfiniTime 2.0 : l’été des nouveautés\n\n"
        "La version 2.0 d’InfiniTime est enfin là ! Au programme : un nouveau gestionnaire de "
        "notifications, une autonomie doublée et la prise en charge du Bluetooth LE Audio. "
        "Merci à @\u2060alice@mastodon.social pour ses tests.\n\n"
        f"{article_url}\n\n#DéveloppementWeb #PineTime #Cpp"
    )
    toot = Toot(
        text=text,
        language="fr",
        visibility="public",
        hashtags=("#DéveloppementWeb", "#PineTime", "#Cpp"),
        length=312,
        limit=500,
    )
    tags = CardTags(
        title="InfiniTime 2.0 : l’été des nouveautés",
        description="Notifications, autonomie doublée, Bluetooth LE Audio : tout ce qui change "
        "dans la nouvelle version du firmware de la PineTime.",
        image="https://codingfield.com/wp-content/uploads/infinitime-2.png",
        site_name="Codingfield",
        opengraph=True,
    )
    picture = png(600, 315, (99, 100, 255), (40, 200, 160))
    card = card_view(
        PageOutcome(article_url, article_url, 200),
        tags,
        inline(picture),
        image_size(picture),
        "",
        identity,
    )
    view = toot_view(
        "codingfield",
        "InfiniTime 2.0 : l’été des nouveautés",
        article_url,
        toot,
        identity=identity,
        instance_url=instance,
        card=card,
    )
    path = tmp_path / "readme.html"
    path.write_text(
        render_page(
            Page(
                "crossposter preview",
                "What `crossposter run` would do now, as your followers would see it. "
                "Nothing was posted or changed.",
                [FeedSection("codingfield", toots=[view])],
                ("dry run: 1 toot would be posted; nothing was changed",),
            )
        ),
        encoding="utf-8",
    )

    page = Loaded(browser, path)

    page.assert_self_contained()
    link = page.one(".status__content a[target]")
    assert link.get_attribute("href") == article_url
    # Cut after 30 characters, the ellipsis drawn by the style as Mastodon's is.
    assert link.text == "codingfield.com/blog/2026/11/i"
    after = "return getComputedStyle(arguments[0].firstElementChild, '::after').content"
    assert page.js(after, link) == '"…"'

    hashtag = page.all(".status__content a.hashtag")[0]
    assert hashtag.get_attribute("href") == f"{instance}/tags/D%C3%A9veloppementWeb"
    # The inert mention is text, as the instance will show it: no link, no notification.
    assert "@\u2060alice@mastodon.social" in page.one(".status__content").text
    assert page.all(".status__content .mention.live") == []
    assert "large" in page.one(".status-card").get_attribute("class")
    problems = [li.text for li in page.all(".card-problems li")]
    assert len(problems) == 1 and problems[0].startswith("No byline")
    page.screenshot("readme")


def test_the_account_shows_as_the_last_real_run_recorded_it(tmp_path, api, feeds, token, browser):
    api.avatar = png(40, 40, (230, 120, 40))
    api.domain = "mastodon.codingfield.com"
    config, publish = blog_on(feeds, tmp_path, api)
    publish(1)
    assert main(["run", "--config", config]) == 0  # posts article 1, and keeps the account
    publish(2, 1)
    assert main(["run", "--config", config]) == 0
    # A posting run spends no request on the picture; the next, with nothing to post, does.
    assert api.count("GET", "/avatars/original/missing.png") == 0
    assert main(["run", "--config", config]) == 0
    assert main(["run", "--config", config]) == 0
    assert api.count("GET", "/avatars/original/missing.png") == 1  # kept: not again
    publish(3, 2, 1)
    serve_page(feeds, "/3/", card_page(title="Three", description="The third."))
    requests = len(api.requests)

    page = Loaded(browser, dry_run_page(config, tmp_path, "recorded-account"))

    assert len(api.requests) == requests  # the preview and its page asked the instance nothing
    page.assert_self_contained()
    assert page.text(".display-name strong") == "Test bot"
    assert page.text(".display-name span") == "@bot@mastodon.codingfield.com"
    avatar = page.one(".status__avatar")
    assert avatar.get_attribute("src").startswith("data:image/png;base64,")
    assert page.js("return arguments[0].naturalWidth", avatar) == 40
    problems = " ".join(li.text for li in page.all(".card-problems li"))
    assert 'content="@bot@mastodon.codingfield.com"' in problems
    page.screenshot("recorded-account")
