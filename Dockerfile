# crossposter in a container: the config mounted read-only at /config,
# the state in the /data volume, the token from the environment or a secret.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CROSSPOSTER_STATE_FILE=/data/state.sqlite3

WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY crossposter ./crossposter
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin crossposter \
    && mkdir -p /data \
    && chown crossposter /data

USER 10001
VOLUME ["/data"]
ENTRYPOINT ["crossposter"]
CMD ["run", "--config", "/config/feeds.yaml", "--log-format", "json"]
