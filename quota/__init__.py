"""Quota: units, registration of published pieces, quota rules, points and rankings."""
