"""Scrapy's side of benches/crawl_vs_scrapy_spider.sh (issue 25): a CrawlSpider over the generated
site, robots.txt obeyed, 16 requests at once (16 per domain), yielding each page's url and title.

    scrapy runspider benches/scrapy/site_spider.py -a start=http://127.0.0.1:PORT/ -O pages.jsonl

Scrapy's defaults otherwise (no download delay, no AutoThrottle, its duplicate filter, no depth
limit). The start page reaches the rule's callback through the links to it (a CrawlSpider gives
the start response itself to `parse_start_url`, which yields nothing here; Scrapy does not
filter start requests, so `/` is fetched twice): a whole crawl yields every page once.
"""

from urllib.parse import urlparse

from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule


class SiteSpider(CrawlSpider):
    name = "site"
    custom_settings = {
        "ROBOTSTXT_OBEY": True,
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
        "LOG_LEVEL": "INFO",
        "TELNETCONSOLE_ENABLED": False,
    }
    rules = (Rule(LinkExtractor(), callback="parse_item", follow=True),)

    def __init__(self, start, *args, **kwargs):
        self.start_urls = [start]
        self.allowed_domains = [urlparse(start).hostname]
        super().__init__(*args, **kwargs)

    def parse_item(self, response):
        yield {"url": response.url, "title": response.css("title::text").get()}
