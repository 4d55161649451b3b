"""Accounts: users, role grants on the organization tree, logins and sessions, the audit log.

Every face (the CLI's ``presswatch users``, the web app) calls these functions; they take a
``Session`` and never commit. The data model is in :mod:`models.accounts`; who may see what is
:mod:`models.scope`.
"""
