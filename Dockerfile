# crossposter in a container: `run --loop` every 15 minutes, the config mounted
# read-only at /config/feeds.yaml, the state in the /data volume, the token from
# the secret /run/secrets/crossposter_token or the CROSSPOSTER_ACCESS_TOKEN variable.
FROM python:3.11-slim

# The token's *path* is set here, never the token: DL3064 mistakes the name for a secret.
# hadolint ignore=DL3064
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CROSSPOSTER_STATE_FILE=/data/state.sqlite3 \
    CROSSPOSTER_ACCESS_TOKEN_FILE=/run/secrets/crossposter_token

WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY crossposter ./crossposter
# constraints.txt pins every dependency, so two builds install the same versions.
# The postgres extra: state_url works in the image as state_file does; the listen
# extra: `run --loop --listen` serves probes, metrics and webhooks.
RUN pip install --no-cache-dir -c constraints.txt ".[postgres,listen]" \
    && useradd --system --uid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin crossposter \
    && mkdir -p /data /config \
    && chown crossposter /data

USER 10001
VOLUME ["/data"]
# `--listen`: /healthz, /readyz, /metrics, and POST /feeds/NAME/poll once a webhook
# secret is given (CROSSPOSTER_WEBHOOK_SECRET or webhook_secret_file).
EXPOSE 8080
# Unhealthy once no pass has succeeded for twice the loop's interval.
HEALTHCHECK --interval=1m --timeout=30s --start-period=5m --retries=3 \
    CMD ["crossposter", "health", "--config", "/config/feeds.yaml"]
ENTRYPOINT ["crossposter"]
CMD ["run", "--loop", "--interval", "15m", "--listen", "0.0.0.0:8080", "--config", "/config/feeds.yaml", "--log-format", "json"]
