"""Saved web pages, in the shapes browsers and tools write them (Chrome's "Save page as", SingleFile,
a wget mirror), read by the `html` adapter through trafilatura."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from samdata.catalog import Catalog
from samdata.config import Config, ConfigError
from samdata.ingest import run_ingest
from tests.conftest import config_for

TITLE = "Reading large files line by line in Python"
URL = "https://blog.example.org/posts/iterating-files"
PARAGRAPHS = [
    "When a log file grows to several gigabytes, reading it into memory at once is no longer an option."
    " Python's file objects are iterators, so the simplest loop already streams the file one line at a time.",
    "The function below counts the lines that mention an error. It never holds more than one line in memory,"
    " whatever the size of the file, because the file object yields lines lazily as the loop asks for them.",
    "Opening the file with an explicit encoding matters: the default depends on the platform, and a log"
    " written on one machine may not decode on another.",
    "For binary files, iterate over fixed-size blocks instead, with a sentinel in the two-argument form of"
    " iter, which stops when read returns an empty bytes object.",
]
# Indentation, a blank line and characters HTML escapes: the block must come out as written.
CODE = '''def count_errors(path, limit=None):
    """Lines of a log that mention an error."""
    errors = 0

    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if limit is not None and n >= limit:
                break
            if "ERROR" in line and "<test>" not in line:
                errors += 1
    return errors'''
BOILERPLATE = [
    "We use cookies",
    "Accept all cookies",
    "Manage preferences",
    "Subscribe to the newsletter",
    "About the author",
    "Popular posts",
    "Ten tricks with dictionaries",
    "All rights reserved",
    "Privacy policy",
    "Share on Mastodon",
]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def article_html(
    *,
    title: str = TITLE,
    paragraphs: list[str] | None = None,
    code: str | None = CODE,
    head: str = "",
    lang: str = "en-GB",
    before_html: str = "",
    after_html_tag: str = "",
    charset: str = '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">',
) -> str:
    """A blog post page as a browser saves it: cookie banner, header navigation, the article,
    a sidebar and a footer around it."""
    paras = paragraphs if paragraphs is not None else PARAGRAPHS
    body = [f"  <p>{_escape(p)}</p>" for p in paras[:2]]
    if code is not None:
        body.append(f'<pre><code class="language-python">{_escape(code)}\n</code></pre>')
    body += [f"  <p>{_escape(p)}</p>" for p in paras[2:]]
    article = "\n".join(body)
    return f"""<!DOCTYPE html>
{before_html}<html lang="{lang}">{after_html_tag}<head>{charset}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_escape(title)} | Example Blog</title>
<meta property="og:title" content="{_escape(title)}">
<meta property="article:published_time" content="2023-04-18T09:30:00+00:00">
{head}
<link rel="stylesheet" href="./iterating-files_files/style.css">
</head>
<body class="post-template">
<div id="cookie-banner" class="cookie-consent" role="dialog">
  <p>We use cookies to improve your experience. By continuing to browse you accept our cookie policy.</p>
  <button>Accept all cookies</button><button>Manage preferences</button>
</div>
<header class="site-header">
  <a class="logo" href="https://blog.example.org/">Example Blog</a>
  <nav class="main-nav"><ul>
    <li><a href="https://blog.example.org/">Home</a></li>
    <li><a href="https://blog.example.org/archive">Archive</a></li>
    <li><a href="https://blog.example.org/about">About the author</a></li>
    <li><a href="https://blog.example.org/subscribe">Subscribe to the newsletter</a></li>
  </ul></nav>
</header>
<div class="container">
<main id="content">
<article class="post">
  <h1 class="post-title">{_escape(title)}</h1>
  <p class="byline">By Jane Doe, 18 April 2023</p>
  <div class="post-content">
{article}
  </div>
  <div class="share"><a href="#">Share on Mastodon</a> <a href="#">Copy link</a></div>
</article>
</main>
<aside class="sidebar">
  <h3>Popular posts</h3>
  <ul><li><a href="/posts/a">Ten tricks with dictionaries</a></li><li><a href="/posts/b">Why tabs beat spaces</a></li></ul>
</aside>
</div>
<footer class="site-footer">
  <p>Copyright 2023 Example Blog. All rights reserved.</p>
  <p><a href="/privacy">Privacy policy</a> | <a href="/terms">Terms of use</a> | <a href="/contact">Contact us</a></p>
</footer>
</body></html>
"""


def chrome_saved(url: str) -> str:
    """The mark Chrome (and Internet Explorer before it) puts on a saved page: the URL's length, then it."""
    return f"<!-- saved from url=({len(url):04d}){url} -->\n"


def singlefile_header(url: str) -> str:
    return (
        f"<!--\n Page saved with SingleFile \n url: {url} \n"
        " saved date: Tue Apr 18 2023 11:02:13 GMT+0200 (Central European Summer Time)\n-->"
    )


def expected_text(title: str = TITLE, paragraphs: list[str] | None = None, code: str | None = CODE) -> str:
    """The page's main text as the adapter writes it: heading, paragraphs, the fenced code block."""
    paras = paragraphs if paragraphs is not None else PARAGRAPHS
    blocks = [f"# {title}", *paras[:2]]
    if code is not None:
        blocks.append(f"```python\n{code}\n```")
    return "\n\n".join([*blocks, *paras[2:]])


def source(
    tmp_path: Path, path: Path | str, fmt: str = "html", extra: str = "", license: str | None = "CC-BY-4.0"
) -> Config:
    lic = f'license = "{license}"\n' if license else ""
    return config_for(
        tmp_path, f'[[sources]]\nname = "pages"\npath = "{path}"\nformat = "{fmt}"\n{lic}{extra}'
    )


def ingest(
    config: Config,
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Accounts, examples by file and quarantine of the source `pages` after one ingest."""
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        accounts = cat.accounts("pages")
        examples = {a["file"]: cat.examples_from(a["file"], "pages") for a in accounts}
        return accounts, examples, cat.quarantined(source="pages")


def texts(examples: list[dict[str, Any]]) -> list[str]:
    return [e["body"]["messages"][0]["content"] for e in examples]


def test_saved_page_gives_the_article_and_its_code_without_boilerplate(tmp_path: Path) -> None:
    page = tmp_path / "Reading large files line by line in Python.html"
    head = f'<link rel="canonical" href="{URL}">'
    page.write_text(article_html(head=head, before_html=chrome_saved(URL)), encoding="utf-8")
    [account], examples, quarantined = ingest(source(tmp_path, page))
    assert (account["records"], account["produced"], account["skipped"], account["quarantined"]) == (
        1,
        1,
        0,
        0,
    )
    assert account["balanced"] and account["examples_by_kind"] == {"sft": 1} and not quarantined
    [example] = examples[str(page)]
    [message] = example["body"]["messages"]
    text = message["content"]
    assert message["role"] == "assistant"
    assert text == expected_text()
    assert f"```python\n{CODE}\n```" in text  # blank line, indentation and `<test>` as written
    for words in BOILERPLATE:
        assert words not in text
    assert example["locator"] == {"chunk": 0, "chars": [0, len(text)]}
    assert example["meta"] == {
        "title": TITLE,
        "url": URL,
        "language": "en-GB",
        "date": "2023-04-18",
        "license": "CC-BY-4.0",
    }


def test_url_comes_from_canonical_then_og_then_the_saved_from_mark_then_the_mirror(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "notes").mkdir(parents=True)
    saved = "https://blog.example.org/drafts/saved"
    pages = {
        "canonical.html": (
            article_html(
                head=f'<link rel="canonical" href="{URL}"><meta property="og:url" content="https://og.example.org/x">',
                before_html=chrome_saved(saved),
            ),
            URL,
        ),
        "og.html": (
            article_html(
                head='<meta property="og:url" content="https://og.example.org/x">',
                before_html=chrome_saved(saved),
            ),
            "https://og.example.org/x",
        ),
        "chrome.html": (article_html(before_html=chrome_saved(saved)), saved),
        "singlefile.html": (
            article_html(after_html_tag=singlefile_header("https://notes.example.net/2023/04/files")),
            "https://notes.example.net/2023/04/files",
        ),
        # A relative canonical link resolves against where the page was saved from.
        "relative.html": (
            article_html(
                head='<link rel="canonical" href="/posts/relative">', before_html=chrome_saved(saved)
            ),
            "https://blog.example.org/posts/relative",
        ),
        # Internet Explorer's mark of the web names no address: the mirror's URL is used.
        "notes/ie mark.html": (
            article_html(before_html=chrome_saved("about:internet")),
            "https://mirror.example.org/blog/notes/ie%20mark.html",
        ),
    }
    for i, (name, (html, _)) in enumerate(pages.items()):
        # Each page says something of its own, so no two pages make the same example.
        (site / name).write_text(html.replace("several gigabytes", f"{i + 2} gigabytes"), encoding="utf-8")
    config = source(tmp_path, f"{site}/**/*.html", extra='url_prefix = "https://mirror.example.org/blog/"\n')
    accounts, examples, _ = ingest(config)
    assert [a["balanced"] and a["produced"] for a in accounts] == [1] * len(pages)
    assert {Path(f).relative_to(site).as_posix(): e[0]["meta"]["url"] for f, e in examples.items()} == {
        name: url for name, (_, url) in pages.items()
    }
    # Without url_prefix a page that names no address has no url label.
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "page.html").write_text(article_html(), encoding="utf-8")
    _, bare, _ = ingest(source(tmp_path / "bare", tmp_path / "bare" / "page.html"))
    assert "url" not in bare[str(tmp_path / "bare" / "page.html")][0]["meta"]


def test_code_in_a_list_a_quote_and_a_bare_pre_keeps_its_lines(tmp_path: Path) -> None:
    steps = """<p>Follow these steps in this order on a fresh machine that has never run the tool before.</p>
<ol><li>Install the package from a shell:<pre><code>pip install mytool
mytool --version</code></pre></li><li>Write a config that names your data folder.</li></ol>
<blockquote><p>The config is read on every start.</p><pre><code>[data]
  path = "~/data"</code></pre></blockquote>
<p>Its output looks like this, column for column:</p><pre>NAME     SIZE
notes    12 KB</pre>
<p>That is all there is to it: the tool is now ready to be used on the data you named.</p>"""
    page = tmp_path / "setup.html"
    page.write_text(
        article_html(title="Setup", paragraphs=["{STEPS}"], code=None).replace("<p>{STEPS}</p>", steps),
        encoding="utf-8",
    )
    _, examples, _ = ingest(source(tmp_path, page))
    assert texts(examples[str(page)]) == [
        "# Setup\n\n"
        "Follow these steps in this order on a fresh machine that has never run the tool before.\n\n"
        "1. Install the package from a shell:\n\n"
        "```\npip install mytool\nmytool --version\n```\n\n"
        "2. Write a config that names your data folder.\n\n"
        '> The config is read on every start.\n>\n> ```\n> [data]\n>   path = "~/data"\n> ```\n\n'
        "Its output looks like this, column for column:\n\n"
        "```\nNAME     SIZE\nnotes    12 KB\n```\n\n"
        "That is all there is to it: the tool is now ready to be used on the data you named."
    ]


def test_gzip_compressed_page(tmp_path: Path) -> None:
    page = tmp_path / "iterating-files.html.gz"
    page.write_bytes(gzip.compress(article_html().encode()))
    cut = tmp_path / "cut.html.gz"
    cut.write_bytes(page.read_bytes()[:-400])
    accounts, examples, quarantined = ingest(source(tmp_path, f"{tmp_path}/*.html.gz"))
    assert texts(examples[str(page)]) == [expected_text()]
    # A page whose compressed stream is cut short is one quarantined record, not a half page.
    assert [(a["records"], a["produced"], a["quarantined"], a["balanced"]) for a in accounts] == [
        (1, 0, 1, True),
        (1, 1, 0, True),
    ]
    [q] = quarantined
    assert q["file"] == str(cut) and q["reason"].startswith("html: gzip stream damaged or cut short after")


def test_declared_charsets_windows_1252_and_latin_1(tmp_path: Path) -> None:
    para = "Le café crème coûte 4 € — « un délice », disait-on à l’époque, et ça n’a pas changé depuis des années."
    words = [para, *PARAGRAPHS[1:]]
    meta1252 = '<meta charset="windows-1252">'
    (tmp_path / "cp1252.html").write_bytes(
        article_html(paragraphs=words, code=None, charset=meta1252, lang="fr").encode("cp1252")
    )
    # Browsers read a page labelled ISO-8859-1 as windows-1252 (its € and curly quotes included).
    latin = '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
    other = [para.replace("4 €", "5 €"), *PARAGRAPHS[1:]]
    (tmp_path / "latin1.html").write_bytes(
        article_html(paragraphs=other, code=None, charset=latin, lang="fr").encode("cp1252")
    )
    _, examples, _ = ingest(source(tmp_path, f"{tmp_path}/*.html"))
    assert texts(examples[str(tmp_path / "cp1252.html")]) == [expected_text(paragraphs=words, code=None)]
    assert texts(examples[str(tmp_path / "latin1.html")]) == [expected_text(paragraphs=other, code=None)]
    assert examples[str(tmp_path / "cp1252.html")][0]["meta"]["language"] == "fr"


APP_SHELL = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Example Blog</title>
<script type="module" src="/assets/index-4f2a9c.js"></script></head><body>
<div id="cookie-banner" class="cookie-consent" role="dialog"><p>We use cookies to improve your experience. By
continuing to browse you accept our cookie policy.</p><button>Accept all cookies</button></div>
<header class="site-header"><nav class="main-nav"><ul><li><a href="/">Home</a></li><li><a href="/archive">Archive</a>
</li><li><a href="/about">About the author</a></li></ul></nav></header>
<main id="content"><div id="root"></div></main>
<footer class="site-footer"><p>Copyright 2023 Example Blog. All rights reserved.</p>
<p><a href="/privacy">Privacy policy</a> | <a href="/terms">Terms of use</a></p></footer>
</body></html>
"""


def test_a_page_without_main_text_is_skipped(tmp_path: Path) -> None:
    chrome = article_html(paragraphs=[], code=None)
    empty_post = chrome.replace(f'<h1 class="post-title">{TITLE}</h1>', "")
    (tmp_path / "empty post.html").write_text(
        empty_post.replace('<p class="byline">By Jane Doe, 18 April 2023</p>', ""), encoding="utf-8"
    )
    # A script-rendered page saved before its script ran: only the banner, menu and footer have
    # text (trafilatura alone takes the cookie banner for the main text).
    (tmp_path / "app shell.html").write_text(APP_SHELL, encoding="utf-8")
    (tmp_path / "empty.html").write_text(
        "<!DOCTYPE html><html><head><title>Untitled</title></head><body></body></html>"
    )
    accounts, examples, _ = ingest(source(tmp_path, f"{tmp_path}/*.html"))
    assert [(a["records"], a["skipped_by_reason"], a["balanced"]) for a in accounts] == [
        (1, {"html: no main text": 1}, True)
    ] * 3
    assert not any(examples.values())


def test_web_content_needs_a_license(tmp_path: Path) -> None:
    for fmt in ("html", "warc"):
        with pytest.raises(ConfigError, match="needs a license") as e:
            source(tmp_path, tmp_path / "x", fmt=fmt, license=None)
        assert isinstance(e.value.__cause__, ValidationError)
    # An `auto` source is valid config; its HTML file is quarantined for want of a licence.
    page = tmp_path / "page.html"
    page.write_text(article_html(), encoding="utf-8")
    [account], examples, [q] = ingest(source(tmp_path, page, fmt="auto", license=None))
    assert (account["records"], account["quarantined"], account["balanced"]) == (1, 1, True)
    assert not examples[str(page)]
    assert q["reason"] == (
        "file cannot be read as html: web content (html) needs the source's license setting, e.g."
        ' license = "CC-BY-4.0" (or "all-rights-reserved" for pages kept for private use)'
    )


LONG = [
    f"Section {n} of the guide explains step {n} of the migration in detail: what to back up, which"
    f" service to stop first, how long step {n} usually takes on a large installation, and how to roll"
    f" it back when something goes wrong halfway through."
    for n in range(1, 13)
]


def test_a_long_article_is_cut_into_chunks_that_locate_their_text(tmp_path: Path) -> None:
    page = tmp_path / "guide.html"
    page.write_text(article_html(title="Migration guide", paragraphs=LONG), encoding="utf-8")
    [account], examples, _ = ingest(source(tmp_path, page, extra="options = { chunk_tokens = 120 }\n"))
    full = expected_text("Migration guide", LONG)
    chunks = examples[str(page)]
    assert len(chunks) >= 4
    assert (
        account["produced"] == 1
        and account["examples_by_kind"] == {"sft": len(chunks)}
        and account["balanced"]
    )
    assert [c["locator"]["chunk"] for c in chunks] == list(range(len(chunks)))
    ends = 0
    for chunk, text in zip(chunks, texts(chunks), strict=True):
        a, b = chunk["locator"]["chars"]
        assert full[a:b] == text and a >= ends
        ends = b
    assert ends == len(full)
    # The code block is one paragraph, never cut: it lies whole in one chunk.
    assert sum(f"```python\n{CODE}\n```" in t for t in texts(chunks)) == 1
    assert all(c["meta"]["title"] == "Migration guide" for c in chunks)


def test_examples_cli_lists_the_chunks(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from samdata.cli import app

    page = tmp_path / "guide.html"
    page.write_text(article_html(title="Migration guide", paragraphs=LONG), encoding="utf-8")
    body = f'[[sources]]\nname = "pages"\npath = "{page}"\nformat = "html"\nlicense = "CC-BY-4.0"\noptions = {{ chunk_tokens = 120 }}\n'
    (tmp_path / "samdata.toml").write_text(body)
    config = config_for(tmp_path, body)
    _, examples, _ = ingest(config)
    result = CliRunner().invoke(
        app, ["examples", "--config", str(tmp_path / "samdata.toml"), "--source", "pages", "--json"]
    )
    assert result.exit_code == 0, result.output
    listed = orjson.loads(result.stdout)["examples"]
    assert sorted(e["id"] for e in listed) == sorted(e["id"] for e in examples[str(page)])
    by_id = {e["id"]: t for e, t in zip(examples[str(page)], texts(examples[str(page)]), strict=True)}
    for row in listed:
        [message] = row["messages"]
        assert message["role"] == "assistant" and message["content"] == by_id[row["id"]]


FAQ_JSON_LD = """<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
 {"@type": "WebSite", "name": "Parcel Co"},
 {"@type": "FAQPage", "mainEntity": [
  {"@type": "Question", "name": "How long does delivery take?", "acceptedAnswer": {"@type": "Answer",
   "text": "<p>Most parcels arrive in <strong>two working days</strong>.</p><p>Islands take a day more.</p>"}},
  {"@type": "Question", "name": "Can I change the address?", "acceptedAnswer": {"@type": "Answer",
   "text": "Yes, until the parcel leaves the depot."}}]}]}</script>"""


def faq_page(head: str, main: str) -> str:
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Help | Parcel Co</title>{head}</head>
<body><nav><a href="/">Home</a> <a href="/track">Track a parcel</a></nav>
<nav class="help-nav"><h3>Need more help?</h3><p>Call us on weekdays.</p></nav>
<main><h1>Frequently asked questions</h1>{main}</main>
<footer><p>© 2024 Parcel Co</p></footer></body></html>"""


def test_qa_pages_become_question_answer_pairs(tmp_path: Path) -> None:
    headings = (
        "<p>These are the questions our customers ask most often about deliveries and their tracking.</p>"
        "<h2>How long does delivery take?</h2><p>Most parcels arrive in two working days.</p>"
        "<p>Islands take a day more.</p><h3>Can I change the address?</h3><p>Yes, until the parcel leaves the depot.</p>"
        "<h2>Prices</h2><p>Prices depend on the weight of the parcel and the country it goes to, see the table.</p>"
    )
    pages = {
        "jsonld.html": faq_page(
            FAQ_JSON_LD, "<p>See the answers below, updated every month by our team.</p>"
        ),
        "details.html": faq_page(
            "",
            "<details><summary>How long does delivery take?</summary><p>Most parcels arrive in two working"
            " days.</p><p>Islands take a day more.</p></details><details><summary>Can I change the address?"
            "</summary><p>Yes, until the parcel leaves the depot.</p></details>"
            "<details><summary>Show more</summary><p>Opening hours.</p></details>",
        ),
        "dl.html": faq_page(
            "",
            "<dl><dt>How long does delivery take?</dt><dd>Most parcels arrive in two working days.</dd>"
            "<dd>Islands take a day more.</dd><dt>Can I change the address?</dt>"
            "<dd>Yes, until the parcel leaves the depot.</dd></dl>",
        ),
        "headings.html": faq_page("", headings),
    }
    for name, html in pages.items():
        (tmp_path / name).write_text(html, encoding="utf-8")
    (tmp_path / "article.html").write_text(article_html(), encoding="utf-8")
    accounts, examples, _ = ingest(source(tmp_path, f"{tmp_path}/*.html", extra="options = { qa = true }\n"))
    two_days = "Most parcels arrive in two working days."
    expected = [
        ("How long does delivery take?", f"{two_days}\n\nIslands take a day more."),
        ("Can I change the address?", "Yes, until the parcel leaves the depot."),
    ]
    for name in pages:
        found = examples[str(tmp_path / name)]
        pairs = [(e["body"]["messages"][0]["content"], e["body"]["messages"][1]["content"]) for e in found]
        assert pairs == expected, name
        assert [e["locator"]["pair"] for e in found] == [0, 1] and all(e["meta"]["qa"] for e in found)
    # A page without question/answer structure is still read as text, and the miss is counted.
    article = next(a for a in accounts if a["file"].endswith("article.html"))
    assert article["dropped_by_reason"] == {"html: qa asked, no question/answer structure": 1}
    assert texts(examples[str(tmp_path / "article.html")]) == [expected_text()]
    assert all(a["balanced"] and a["produced"] == 1 for a in accounts)


def test_a_page_over_max_record_bytes_is_quarantined(tmp_path: Path) -> None:
    page = tmp_path / "big.html"
    page.write_text(article_html(), encoding="utf-8")
    [account], _, [q] = ingest(source(tmp_path, page, extra="[ingest]\nmax_record_bytes = 2048\n"))
    assert (account["records"], account["quarantined"], account["balanced"]) == (1, 1, True)
    assert q["reason"] == "html: page over max_record_bytes (2048 bytes)" and q["snippet"].startswith(
        "<!DOCTYPE html>"
    )
