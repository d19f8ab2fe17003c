"""A forgiving configuration: bare hosts, did-you-mean, YAML errors with their place, a
default file, options before the command, and a running loop that follows edits."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path

import pytest

from crossposter.cli import main
from crossposter.config import TAB_HINT, ReloadingSettings, load_settings

from support.blog import feed_of, write_config
from support.builders import write_config_text as write

MINIMAL = """\
instance: https://mastodon.example
feeds:
  - name: blog
    url: https://blog.example/feed/
"""


def refusal(capsys, *argv: str) -> str:
    """What `crossposter ARGV` says on stderr, having exited 2."""
    assert main(list(argv)) == 2
    return capsys.readouterr().err


# -- instances --------------------------------------------------------------------


def test_a_bare_host_means_https(tmp_path, monkeypatch):
    text = MINIMAL.replace("https://mastodon.example", "mastodon.codingfield.com")
    text += "accounts:\n  work: {instance: social.example:8443, access_token_env: WORK}\n"
    settings = load_settings(write(tmp_path, text))
    assert settings.instance_url == "https://mastodon.codingfield.com"
    assert settings.accounts["work"].instance_url == "https://social.example:8443"

    monkeypatch.setenv("CROSSPOSTER_INSTANCE", "other.example")
    assert load_settings(write(tmp_path, text)).instance_url == "https://other.example"


def test_a_bare_loopback_host_means_plain_http_and_posts_there(tmp_path, api, feeds, token):
    # Nothing on this machine serves TLS for a test instance; the token stays on it.
    bare = api.base_url.removeprefix("http://")
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}", instance=bare
    )
    assert load_settings(config).instance_url == api.base_url
    assert main(["run", "--config", config]) == 0
    assert len(api.statuses) == 1


def test_an_http_instance_elsewhere_is_still_refused(tmp_path, capsys):
    path = write(tmp_path, MINIMAL.replace("https://", "http://"))
    assert "an instance must be https://" in refusal(capsys, "run", "--config", path)


# -- unknown keys -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            MINIMAL + "    visibilty: unlisted\n",
            "feeds[0] (blog): unknown key visibilty; did you mean visibility?",
        ),
        (
            MINIMAL + "    max_post_per_run: 2\n",
            "feeds[0] (blog): unknown key max_post_per_run; did you mean max_posts_per_run?",
        ),
        (
            MINIMAL.replace("feeds:", "feed:"),
            "feeds.yaml:2:1: unknown key feed; did you mean feeds?",
        ),
        (
            MINIMAL + "max_post_per_run: 2\n",
            "unknown key max_post_per_run; did you mean max_posts_per_run under defaults:?",
        ),
        (
            MINIMAL + "accounts:\n  work: {instance: a.example, acces_token_env: WORK}\n",
            "accounts.work: unknown key acces_token_env; did you mean access_token_env?",
        ),
        (
            MINIMAL + "    include: {category: news}\n",
            "feeds[0] (blog).include: unknown key category; did you mean categories?",
        ),
    ],
)
def test_an_unknown_key_gets_a_suggestion(tmp_path, capsys, text, said):
    path = write(tmp_path, text)
    assert said in refusal(capsys, "run", "--config", path)


def test_a_typo_under_defaults_is_reported_there_once(tmp_path, capsys):
    text = MINIMAL.replace("feeds:", "defaults:\n  visibilty: unlisted\nfeeds:")
    text += "  - {name: other, url: https://other.example/feed}\n"
    path = write(tmp_path, text)
    err = refusal(capsys, "run", "--config", path)
    assert f"{path}:3:3: defaults: unknown key visibilty; did you mean visibility?" in err
    assert err.count("visibilty") == 1


def test_a_bad_value_under_defaults_is_reported_there_once(tmp_path, capsys):
    text = MINIMAL.replace("feeds:", "defaults:\n  visibility: everyone\nfeeds:")
    err = refusal(capsys, "run", "--config", write(tmp_path, text))
    assert err.count("visibility: ") == 1
    assert ":3:15: defaults.visibility: takes public, unlisted, private or direct" in err


@pytest.mark.parametrize("spelling", ["yes", "true", "on"])
def test_backfill_yes_is_refused_a_number_is_expected(tmp_path, capsys, spelling):
    path = write(tmp_path, MINIMAL + f"    backfill: {spelling}\n")
    err = refusal(capsys, "run", "--config", path)
    assert f"{path}:5:15: feeds[0] (blog).backfill: a number is expected, not true" in err


# -- YAML -------------------------------------------------------------------------


def test_a_yaml_error_says_file_line_and_column(tmp_path, capsys):
    path = write(tmp_path, MINIMAL + "  - name: [unclosed\n")
    err = refusal(capsys, "run", "--config", path)
    assert f"{path}:6:1: not valid YAML: expected ',' or ']', but got '<stream end>'" in err


@pytest.mark.parametrize(
    ("text", "where", "key", "first_line"),
    [
        # A second `feeds:` at the end, pasted from another file: the first list was lost.
        (MINIMAL + "feeds:\n  - {name: other, url: 'https://o.example/feed'}\n", 5, "feeds", 2),
        # The same key twice in one feed: the first url silently lost.
        (MINIMAL + "    url: https://blog.example.org/other\n", 5, "url", 4),
    ],
)
def test_a_key_given_twice_is_refused_naming_both_lines(
    tmp_path, capsys, text, where, key, first_line
):
    path = write(tmp_path, text)
    err = refusal(capsys, "run", "--config", path)
    assert f"{path}:{where}:" in err
    assert f"{key} is given twice (first on line {first_line})" in err


def test_a_tab_in_the_indentation_gets_a_hint(tmp_path, capsys):
    path = write(tmp_path, MINIMAL.replace("    url:", "\turl:"))
    err = refusal(capsys, "run", "--config", path)
    assert f"{path}:4:1: not valid YAML: " in err
    assert err.rstrip().endswith(TAB_HINT)
    assert TAB_HINT == "YAML does not allow tabs for indentation; use spaces"


@pytest.mark.parametrize("written", ["'New - {title}\\n{url}'", "New - {title}\\n{url}"])
def test_a_literal_backslash_n_in_a_template_is_warned_about(tmp_path, caplog, written):
    path = write(tmp_path, MINIMAL + f"    template: {written}\n")
    with caplog.at_level(logging.WARNING, logger="crossposter"):
        settings = load_settings(path)
    assert settings.feeds[0].template == "New - {title}\\n{url}"
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning == (
        f"{path}:5: feed blog: the template's \\n stays a backslash and an n: YAML keeps \\n "
        "literal in single quotes and unquoted; use double quotes or a | block for a new line"
    )


def test_a_template_in_double_quotes_or_a_block_is_not_warned_about(tmp_path, caplog):
    text = MINIMAL + '    template: "{title}\\n{url}"\n' + "defaults:\n  template: |\n    {url}\n"
    with caplog.at_level(logging.WARNING, logger="crossposter"):
        load_settings(write(tmp_path, text))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# -- each problem on its own line, in our words ------------------------------------

# What pydantic says in its own voice: none of it reaches a person.
PYDANTIC_PHRASES = (
    "Input should be",
    "Field required",
    "validation error",
    "instance of",
    "type=",
    "Value error",
    "String should",
    "Input is not",
    "unable to parse",
    "unable to interpret",
    "pydantic",
    "<class",
    "For further information",
    "Extra inputs",
)

EVERY_KIND_OF_MISTAKE = {
    "a word for a number": MINIMAL + "    max_posts_per_run: lots\n",
    "a fraction for a whole number": MINIMAL + "    backfill: 1.5\n",
    "a word for a boolean": MINIMAL + "    image: maybe\n",
    "a word for seconds": MINIMAL + "fetch_timeout: soon\n",
    "a number below its least": MINIMAL + "    backfill: -1\n",
    "a number above its most": MINIMAL + "fetch_workers: 1000\n",
    "a missing url": "instance: https://m.example\nfeeds:\n  - name: blog\n",
    "a missing name": "instance: https://m.example\nfeeds:\n  - url: https://b.example/f\n",
    "an empty name": MINIMAL + "  - {name: '', url: https://b.example/f}\n",
    "an unknown key": MINIMAL + "    colour: blue\n",
    "an empty defaults": MINIMAL + "defaults:\n",
    "an empty accounts": MINIMAL + "accounts:\n",
    "a hashtag read as a comment": MINIMAL + "    hashtags: #blog\n",
    "a content warning read as a comment": MINIMAL + "    content_warning: #cw\n",
    "a bad duration": MINIMAL + "    edit_window: 3 weeks\n",
    "a URL without a host": MINIMAL.replace("https://mastodon.example", "https://"),
    "a URL of another scheme": MINIMAL.replace("https://mastodon.example", "ftp://m.example"),
    "a bad visibility": MINIMAL + "    visibility: everyone\n",
    "a bad on_change": MINIMAL + "    on_change: always\n",
    "a list for a mapping": MINIMAL + "    include: [news]\n",
    "a list for the accounts": MINIMAL + "accounts: [work]\n",
    "a word for a mapping": MINIMAL + "    hashtag_map: C++\n",
    "a mapping for a list": MINIMAL + "    hashtags: {a: b}\n",
    "a number for a list": MINIMAL + "    include: {categories: 5}\n",
    "a number for a template": MINIMAL + "    template: 5\n",
    "a list for a path": MINIMAL + "state_file: [a]\n",
    "a state_url of another database": MINIMAL + "state_url: mysql://x.example/db\n",
    "an account without instance": MINIMAL + "accounts:\n  w: {access_token_env: W}\n",
    "a word for enabled": MINIMAL + "    enabled: sometimes\n",
    "a list for the defaults": MINIMAL + "defaults:\n  - backfill: 1\n",
    "a mapping for the feeds": "instance: https://m.example\nfeeds:\n  name: blog\n",
    "a word for a feed": "instance: https://m.example\nfeeds:\n  - https://b.example/f\n",
}


@pytest.mark.parametrize("text", EVERY_KIND_OF_MISTAKE.values(), ids=EVERY_KIND_OF_MISTAKE)
def test_no_pydantic_phrasing_reaches_a_person(tmp_path, capsys, text):
    path = write(tmp_path, text)
    err = refusal(capsys, "run", "--config", path)
    assert err.startswith(f"ERROR configuration error: {path}")
    said = err.replace(path, "FILE")
    leaked = [phrase for phrase in PYDANTIC_PHRASES if phrase.lower() in said.lower()]
    assert not leaked, err


def test_several_problems_are_one_line_each_with_file_line_and_column(tmp_path, capsys):
    path = write(tmp_path, MINIMAL + "    backfill: -1\n    visibility: everyone\n")
    err = refusal(capsys, "run", "--config", path)
    assert "\\n" not in err
    assert err.splitlines() == [
        f"ERROR configuration error: {path}:5:15: feeds[0] (blog).backfill: "
        "takes at least 0, not -1",
        f"ERROR configuration error: {path}:6:17: feeds[0] (blog).visibility: "
        "takes public, unlisted, private or direct, not everyone",
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (MINIMAL + "    colour: blue\n", ":5:5: feeds[0] (blog): unknown key colour"),
        (
            "instance: https://m.example\nfeeds:\n  - name: blog\n",
            ":3:5: feeds[0] (blog): url is required, and missing",
        ),
        (MINIMAL + "defaults:\n", ":5:1: defaults: has no value"),
        (
            MINIMAL + "defaults:\n  - backfill: 1\n",
            ":6:3: defaults: takes feed settings (key: value, indented under it), not a list",
        ),
        (
            "instance: https://m.example\nfeeds:\n  - https://b.example/f\n",
            ":3:5: feeds[0]: takes a feed's settings (name: ..., url: ..., indented under its "
            "'- '), not https://b.example/f",
        ),
        (
            MINIMAL + "    include: [news]\n",
            ":5:14: feeds[0] (blog).include: takes settings (key: value, indented under it), "
            "not a list",
        ),
        (MINIMAL + "    edit_window: 3 weeks\n", ":5:18: feeds[0] (blog).edit_window: '3 weeks'"),
    ],
)
def test_a_problem_says_where_it_is(tmp_path, capsys, text, said):
    path = write(tmp_path, text)
    assert f"{path}{said}" in refusal(capsys, "run", "--config", path)


def test_an_empty_defaults_says_what_it_needs(tmp_path, capsys):
    err = refusal(capsys, "run", "--config", write(tmp_path, MINIMAL + "defaults:\n"))
    assert "defaults: has no value: give it feed settings, indented under it" in err


@pytest.mark.parametrize("key", ["hashtags", "content_warning"])
def test_a_hash_sign_read_as_a_comment_is_explained(tmp_path, capsys, key):
    path = write(tmp_path, MINIMAL + f"    {key}: #blog\n")
    err = refusal(capsys, "run", "--config", path)
    assert (
        f"{path}:5:5: feeds[0] (blog).{key}: has no value: YAML reads everything from # on "
        f"as a comment; quote it: {key}: '#blog'"
    ) in err


def test_a_hash_sign_read_as_a_comment_in_a_list_is_explained(tmp_path, capsys):
    path = write(tmp_path, MINIMAL + "    hashtags:\n      - #blog\n      - news\n")
    err = refusal(capsys, "run", "--config", path)
    assert (
        f"{path}:6:8: feeds[0] (blog).hashtags.0: has no value: YAML reads everything from # "
        "on as a comment; quote it: - '#blog'"
    ) in err


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (
            MINIMAL.replace("    url:", "      url:"),
            "4:10: not valid YAML: this line is indented more than the key above it "
            "(line 3); keys of one mapping start in the same column",
        ),
        (
            MINIMAL.replace("    url:", "   url:"),
            "4:4: not valid YAML: this line is indented less than the line above it and "
            "more than the list it is in (line 3); line it up with the line above",
        ),
        (
            MINIMAL.replace("    url:", "  url:"),
            "4:3: not valid YAML: this line starts where the list's entries start (line 3) "
            "but not with '- '; indent it like the line above to belong to that entry, or "
            "begin it with '- ' for a new one",
        ),
        (
            MINIMAL.replace("feeds:", " feeds:"),
            "2:7: not valid YAML: this line is indented more than the key above it "
            "(line 1); keys of one mapping start in the same column",
        ),
        (
            MINIMAL + "    include:\n      categories: [a]\n        title: b\n",
            "7:9: not valid YAML: this line is indented more than the key above it (line 6); "
            "keys of one mapping start in the same column",
        ),
        (
            MINIMAL + "    template: 'Read {title}\n",
            "6:1: not valid YAML: the quote opened on line 5 is never closed",
        ),
        (
            MINIMAL + "    backfill 3\n",
            "6:1: not valid YAML: line 5 has no ': ' after its key; a setting is written "
            "key: value",
        ),
        (
            "instance: https://m.example\nfeeds:\n  - {name: blog, hashtags: #blog}\n",
            "4:1: not valid YAML: YAML reads everything from # on as a comment, so the [ or { "
            "opened on line 3 is never closed; quote a value that starts with #: '#blog'",
        ),
        (
            MINIMAL + "    template: Read: {title}\n",
            "5:19: not valid YAML: a second ': ' on one line; a value that holds ': ' "
            "must be quoted: template: 'Read: {title}'",
        ),
    ],
)
def test_a_yaml_error_gives_its_cause(tmp_path, capsys, text, cause):
    path = write(tmp_path, text)
    assert f"{path}:{cause}" in refusal(capsys, "run", "--config", path)


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("127.0.0.1:8080/feed.xml", "http://127.0.0.1:8080/feed.xml"),
        ("localhost/feed.xml", "http://localhost/feed.xml"),
        ("blog.example/feed.xml", "https://blog.example/feed.xml"),
        ("blog.example:8443/feed/", "https://blog.example:8443/feed/"),
    ],
)
def test_a_url_without_a_scheme_gets_a_did_you_mean(tmp_path, capsys, written, meant):
    path = write(tmp_path, MINIMAL.replace("https://blog.example/feed/", written))
    err = refusal(capsys, "run", "--config", path)
    assert (
        f"{path}:4:10: feeds[0] (blog).url: {written} is neither a URL (it has no scheme) nor "
        f"a file; did you mean {meant}?"
    ) in err


def test_a_local_file_named_like_a_host_is_still_a_file(tmp_path):
    (tmp_path / "blog.example").mkdir()
    (tmp_path / "blog.example" / "feed.xml").write_text("<rss/>", encoding="utf-8")
    path = write(tmp_path, MINIMAL.replace("https://blog.example/feed/", "blog.example/feed.xml"))
    assert load_settings(path).feeds[0].url == str(tmp_path / "blog.example" / "feed.xml")


def test_a_wrong_value_from_the_environment_names_the_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CROSSPOSTER_FETCH_TIMEOUT", "soon")
    path = write(tmp_path, MINIMAL)
    assert refusal(capsys, "run", "--config", path) == (
        f"ERROR configuration error: {path}: fetch_timeout: takes a number, not soon "
        "(from CROSSPOSTER_FETCH_TIMEOUT)\n"
    )


def test_a_structured_setting_from_the_environment_that_is_no_json_is_named(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("CROSSPOSTER_ACCOUNTS", "work")
    path = write(tmp_path, MINIMAL)
    assert refusal(capsys, "run", "--config", path) == (
        "ERROR configuration error: CROSSPOSTER_ACCOUNTS: not valid JSON, which a setting "
        "made of several values must be when it comes from the environment\n"
    )


def test_a_reload_refused_for_several_problems_names_each_on_its_own_line(tmp_path, caplog):
    path = write(tmp_path, MINIMAL)
    config = ReloadingSettings(path)
    Path(path).write_text(MINIMAL + "    backfill: -1\n    visibility: everyone\n")
    with caplog.at_level(logging.ERROR, logger="crossposter"):
        assert not config.reload()
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "configuration not reloaded (2 problems); keeping the last good one"
    assert [line.split(": ", 1)[0] for line in lines[1:]] == [f"{path}:5:15", f"{path}:6:17"]


# -- the default configuration and options before the command ---------------------


def dry_run_config(tmp_path, api, feeds) -> str:
    feeds.set_feed("/feed", feed_of(1))
    return write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")


def test_the_configuration_comes_from_crossposter_config(tmp_path, api, feeds, monkeypatch, capsys):
    monkeypatch.setenv("CROSSPOSTER_CONFIG", dry_run_config(tmp_path, api, feeds))
    assert main(["run", "--dry-run"]) == 0
    assert "dry run: 0 toots would be posted" in capsys.readouterr().out


def test_the_configuration_comes_from_xdg_config_home(tmp_path, api, feeds, capsys):
    config = dry_run_config(tmp_path, api, feeds)
    default = tmp_path / "home/.config/crossposter/feeds.yaml"
    default.parent.mkdir(parents=True)
    text = Path(config).read_text().replace("state.sqlite3", str(tmp_path / "s.sqlite3"))
    default.write_text(text)
    assert main(["run", "--dry-run"]) == 0
    assert "dry run: 0 toots would be posted" in capsys.readouterr().out


def test_without_any_configuration_the_paths_tried_are_named(tmp_path, capsys):
    err = refusal(capsys, "run")
    assert (
        "no configuration found: --config was not given, CROSSPOSTER_CONFIG is not set and "
        f"{tmp_path}/home/.config/crossposter/feeds.yaml does not exist; give --config FILE"
    ) in err


def test_logging_options_may_come_before_the_command(tmp_path, api, feeds, capsys):
    config = dry_run_config(tmp_path, api, feeds)
    assert main(["run", "--dry-run", "--config", config]) == 0
    assert "INFO feed blog:" in capsys.readouterr().err

    assert main(["-q", "run", "--dry-run", "--config", config]) == 0
    assert "INFO" not in capsys.readouterr().err

    assert main(["--log-format", "json", "run", "--dry-run", "--config", config]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert any(line.get("feed") == "blog" for line in lines)

    assert main(["-v", "run", "--dry-run", "--config", config]) == 0
    assert logging.getLogger("crossposter").level == logging.DEBUG


# -- --interval -------------------------------------------------------------------


def test_interval_without_loop_is_refused(tmp_path, capsys):
    err = refusal(capsys, "run", "--interval", "5m", "--config", write(tmp_path, MINIMAL))
    assert "--interval is the time between the passes of --loop: give --loop too" in err


# -- run --loop follows the configuration ------------------------------------------


class Said(logging.Handler):
    """Lets a test wait until crossposter has logged a message containing some words."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []
        self.changed = threading.Condition()

    def emit(self, record):
        with self.changed:
            self.messages.append(record.getMessage())
            self.changed.notify_all()

    def wait_for(self, words: str, count: int = 1, timeout: float = 30) -> None:
        with self.changed:
            seen = self.changed.wait_for(
                lambda: sum(words in m for m in self.messages) >= count, timeout
            )
        assert seen, f"never said {words!r} {count} time(s): {self.messages}"


@pytest.fixture
def said():
    handler = Said()
    logger = logging.getLogger("crossposter")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def in_the_background(steps) -> threading.Thread:
    """Run `steps` beside the loop; a failure still stops the loop, then is re-raised."""
    failure: list[BaseException] = []

    def run():
        try:
            steps()
        except BaseException as error:  # handed to the test
            failure.append(error)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=run, daemon=True)
    thread.failure = failure
    thread.start()
    return thread


def test_the_loop_polls_a_feed_added_to_the_file_and_keeps_the_last_good_one(
    tmp_path, api, feeds, token, said, capsys
):
    feeds.set_feed("/a", feed_of(1))
    feeds.set_feed("/b", feed_of(2))
    config = write_config(tmp_path, api, f"- {{name: a, url: '{feeds.url('/a')}'}}")
    two_feeds = (
        Path(config).read_text() + f"  - {{name: b, url: '{feeds.url('/b')}', backfill: 1}}\n"
    )

    def edit():
        said.wait_for("pass done")
        with open(config, "w") as file:
            file.write(two_feeds)
        said.wait_for("configuration changed; reloaded (2 feeds)")
        said.wait_for("feed b:")
        with open(config, "w") as file:
            file.write(two_feeds + "  - name: [unclosed\n")
        said.wait_for("configuration not reloaded")
        said.wait_for("feed b:", count=2)

    edits = in_the_background(edit)
    assert main(["run", "--loop", "--interval", "1s", "--config", config]) == 0
    edits.join()
    assert not edits.failure, edits.failure
    assert len(api.statuses) == 1  # b's backfill: the added feed was polled
    err = capsys.readouterr().err
    assert "WARNING --interval 1 s is under a minute" in err
    assert f"configuration not reloaded: {config}:" in err
    assert "; keeping the last good one" in err
    assert err.count("configuration not reloaded") == 1


def test_sighup_reloads_at_once_and_does_not_stop_the_loop(tmp_path, api, feeds, token, said):
    feeds.set_feed("/a", feed_of(1))
    config = write_config(tmp_path, api, f"- {{name: a, url: '{feeds.url('/a')}'}}")

    def hang_up():
        said.wait_for("next in 1 h")
        with open(config, "a") as file:
            file.write(f"  - {{name: b, url: '{feeds.url('/a')}'}}\n")
        os.kill(os.getpid(), signal.SIGHUP)
        said.wait_for("configuration changed; reloaded (2 feeds)")
        assert not any("stopping" in m for m in said.messages)

    hangs = in_the_background(hang_up)
    assert main(["run", "--loop", "--interval", "1h", "--config", config]) == 0
    hangs.join()
    assert not hangs.failure, hangs.failure
    assert [m for m in said.messages if m.startswith("stopping")] == ["stopping: SIGTERM"]



def test_editors_are_not_told_a_bare_host_is_a_mistake():
    # yaml-language-server checks `format: uri`, which a bare host is not; jsonschema here
    # cannot (it lacks the URI checker), so the schema itself is read.
    from test_schema import SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    instances = [
        schema["properties"]["instance"],
        *schema["properties"]["instance"]["anyOf"],
        schema["$defs"]["AccountConfig"]["properties"]["instance"],
    ]
    assert [kind.get("format") for kind in instances] == [None] * 4
