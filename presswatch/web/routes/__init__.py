"""One router module per area of the app; each is listed in ``presswatch.web.app.ROUTERS``."""
