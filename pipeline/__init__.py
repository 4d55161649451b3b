"""Pipeline: extract, normalize, dedupe and store the raw items the crawlers hand over."""
