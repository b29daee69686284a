# syntax=docker/dockerfile:1
# chatservice: build the wheel in one stage, run it in a slim one as a non-root user.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/chatservice
COPY pyproject.toml README.md ./
COPY src ./src
COPY alembic ./alembic
# A regular (not editable) install: the wheel carries the migrations and the static files.
RUN /opt/chatservice/bin/pip install .

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 chatservice \
 && useradd --system --uid 10001 --gid chatservice --home-dir /var/lib/chatservice \
    --create-home --shell /usr/sbin/nologin chatservice
COPY --from=build /opt/chatservice /opt/chatservice
ENV PATH=/opt/chatservice/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CHATSERVICE_HOST=0.0.0.0 \
    CHATSERVICE_DATABASE_URL=sqlite+aiosqlite:////var/lib/chatservice/chatservice.db
USER 10001:10001
WORKDIR /var/lib/chatservice
EXPOSE 8080 50051
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["chatservice"]
CMD ["serve"]
