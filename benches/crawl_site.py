#!/usr/bin/env python3
"""Writes the crawl benchmark's site (issue 25): 10,051 linked static pages for nginx.

    python3 benches/crawl_site.py DIR [ARTICLES]

The site: an index (`/`), 50 sections (`/section/S/`) and ARTICLES articles (default 10,000,
`/article/N.html`), 10,051 pages in all, plus a robots.txt allowing everything and no sitemap
(so every crawler finds pages by links alone). Every page links to about 12 others:

- the index: the 50 sections and the first articles of a few of them;
- a section: the index, its neighbouring sections and the first 10 of its articles;
- an article: the index, its section, the previous and the next article and 8 others drawn
  from the whole site (a fixed seed), so everything is a few links from the index.

An article is a few KB of realistic HTML (head with meta tags, a header with navigation, an
<article> with a title, a byline and 6-9 paragraphs, an aside of related links, a footer). Its
text is drawn word by word from a seeded generator and names the article's number, so no two
pages share content (a content-deduplicating crawler keeps them all). The output is the same
for the same arguments.
"""

import os
import random
import sys

SECTIONS = 50
WORDS = (
    "river harbour engine lantern orchard signal copper meadow archive beacon canyon harvest "
    "glacier market parcel quarry ribbon saddle timber valley window yonder anchor basket "
    "cobalt dialect ember falcon garnet hollow island jasper kettle ledger marble nectar "
    "oyster pepper quartz relay summit tundra umber velvet walnut zephyr council station "
    "season letter county bridge museum garden kitchen library railway theatre village "
    "weather working evening morning history science musical private federal natural "
    "between through against without because however although several different important"
).split()


def sentence(rng, n):
    words = [rng.choice(WORDS) for _ in range(rng.randint(9, 18))]
    words[rng.randrange(len(words))] = f"item-{n}-{rng.randint(0, 999_999)}"
    return " ".join(words).capitalize() + "."


def paragraph(rng, n):
    return " ".join(sentence(rng, n) for _ in range(rng.randint(3, 6)))


def head(title, description):
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{title}</title>\n"
        f"<meta name=\"description\" content=\"{description}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<link rel=\"stylesheet\" href=\"/static/site.css\">\n</head>\n<body>\n"
        "<header class=\"site\"><a class=\"brand\" href=\"/\">The Loopback Gazette</a>\n"
        "<nav><ul><li><a href=\"/\">Home</a></li></ul></nav></header>\n"
    )


FOOTER = (
    "<footer class=\"site\"><p>&copy; The Loopback Gazette. A generated site for riptide's "
    "crawl benchmark.</p></footer>\n</body>\n</html>\n"
)


def section_of(article, articles):
    return article * SECTIONS // articles


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    articles = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    per_section = -(-articles // SECTIONS)
    first = [s * per_section for s in range(SECTIONS)]
    write(os.path.join(root, "robots.txt"), "User-agent: *\nAllow: /\n")

    links = "".join(f"<li><a href=\"/section/{s}/\">Section {s}</a></li>\n" for s in range(SECTIONS))
    links += "".join(f"<li><a href=\"/article/{first[s]}.html\">Lead story of section {s}</a></li>\n" for s in range(3))
    rng = random.Random(25)
    write(
        os.path.join(root, "index.html"),
        head("The Loopback Gazette", "Every section of the Loopback Gazette")
        + "<main><h1>The Loopback Gazette</h1>\n"
        + f"<p>{paragraph(rng, 'index')}</p>\n<ul class=\"sections\">\n{links}</ul></main>\n"
        + FOOTER,
    )

    for s in range(SECTIONS):
        rng = random.Random(f"section-{s}")
        mine = [a for a in range(first[s], min(first[s] + per_section, articles))][:10]
        items = "".join(
            f"<li><a href=\"/article/{a}.html\">Article {a}</a> <span>{sentence(rng, a)}</span></li>\n" for a in mine
        )
        neighbours = "".join(
            f"<a href=\"/section/{t}/\">Section {t}</a> " for t in ((s - 1) % SECTIONS, (s + 1) % SECTIONS)
        )
        write(
            os.path.join(root, "section", str(s), "index.html"),
            head(f"Section {s} - The Loopback Gazette", f"The latest from section {s}")
            + f"<main><h1>Section {s}</h1>\n<p>{paragraph(rng, f'section-{s}')}</p>\n"
            + f"<ul class=\"stories\">\n{items}</ul>\n<p class=\"more\">{neighbours}</p></main>\n"
            + FOOTER,
        )

    pick = random.Random(2025)
    for a in range(articles):
        rng = random.Random(a)
        s = section_of(a, articles)
        related = [pick.randrange(articles) for _ in range(8)]
        title = f"{sentence(rng, a)[:-1][:60]} ({a})"
        body = "\n".join(f"<p>{paragraph(rng, a)}</p>" for _ in range(rng.randint(6, 9)))
        aside = "".join(f"<li><a href=\"/article/{r}.html\">Related story {r}</a></li>\n" for r in related)
        nav = (
            f"<a rel=\"prev\" href=\"/article/{(a - 1) % articles}.html\">Previous</a> "
            f"<a rel=\"next\" href=\"/article/{(a + 1) % articles}.html\">Next</a>"
        )
        write(
            os.path.join(root, "article", f"{a}.html"),
            head(f"{title} - The Loopback Gazette", f"Article {a} of section {s}")
            + f"<nav class=\"crumbs\"><a href=\"/\">Home</a> &rsaquo; <a href=\"/section/{s}/\">Section {s}</a></nav>\n"
            + f"<main><article><h1>{title}</h1>\n<p class=\"byline\">By Reporter {a % 97} in section {s}</p>\n"
            + f"{body}\n</article>\n<aside><h2>Related</h2><ul>\n{aside}</ul></aside>\n"
            + f"<p class=\"pager\">{nav}</p></main>\n"
            + FOOTER,
        )


if __name__ == "__main__":
    main()
