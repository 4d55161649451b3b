"""Digests and periodic reports: build, render (Jinja2 sandbox), schedule, send through the outbox."""
