"""Crawlers: generic spiders and fetchers per source kind (feed, html, sitemap, json_api, import)."""
