"""The bundled demo source: six outlets of the demo world served from one local web server.

``content.yaml`` holds the pieces (written for presswatch); :mod:`crawlers.demo_site.site` renders
them the way each outlet publishes: 今日儋州 as GBK list pages with pagination, 法制时报 and Báo
Pháp luật as RSS, 儋州法院网 as a news sitemap index, 儋州发布 微博 as a JSON posts API, Báo Hưng
Yên as Vietnamese UTF-8 list pages. Dates are rendered relative to the moment the site starts.
"""

from crawlers.demo_site.site import DemoSite, start_demo_site

__all__ = ["DemoSite", "start_demo_site"]
