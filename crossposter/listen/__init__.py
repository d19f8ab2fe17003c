"""`run --loop --listen`: an HTTP listener in the loop's process, for what a long-running
service is asked for: probes (`/healthz`, `/readyz`), Prometheus metrics (`/metrics`), and
a poll on request (`POST /feeds/NAME/poll`, for a blog's webhook or a deploy job), and
WebSub's callbacks (`/websub/ID`: a hub verifying a subscription, or pushing).

`signatures` checks who asks, `probes` and `metrics` watch the loop's passes, `websub`
says what to ask a hub and `subscriber` keeps the subscriptions, `app` answers the
requests, `server` serves it over HTTP, `service` puts them together. Imported only
when --listen is given: the HTTP server and prometheus-client stay out of other runs.
"""
