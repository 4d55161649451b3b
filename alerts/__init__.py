"""Alerts: rules, delivery (outbox, email, webhooks), cases, and the daily digest."""
