# platbot's container image: `platbot serve`, Socket Mode or HTTP by environment.
#
#   docker build -t platbot .
#   docker run -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN platbot                      # Socket Mode
#   docker run -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET -p 3000:3000 platbot    # HTTP
#
# The base is pinned by tag, not digest: the slim tag is rebuilt upstream for Debian and Python
# security fixes, and a digest written here would freeze those out until someone bumps it.
# Where builds must be byte-reproducible, pass a digest instead:
#   docker build --build-arg BASE_IMAGE=python:3.11-slim-bookworm@sha256:... .
# Any Debian-like image with python3 and its venv module works (the tests build on a
# debootstrapped Debian 12, where python is /usr/bin/python3, not /usr/local/bin/python3).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- builder: a venv with platbot and its dependencies, and the index built once -------------
FROM ${BASE_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PLATBOT_CACHE_DIR=/var/cache/platbot

# The same path in both stages: the index cache is keyed by the paths of the knowledge files
# and of platbot's code, so it stays valid only where it was built.
RUN python3 -m venv /opt/platbot

# Dependencies first, from pyproject.toml alone, so a change to platbot's code or knowledge
# rebuilds only the layers below. With the extras a deployment on AWS uses: PostgreSQL for the
# curator store, boto3 to read its rotating login from Secrets Manager.
ARG EXTRAS="postgres aws"
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -c "import sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print(*p['dependencies'], *(d for e in sys.argv[1:] for d in p['optional-dependencies'][e]), sep='\n')" $EXTRAS \
        > /tmp/requirements.txt \
    && /opt/platbot/bin/pip install --requirement /tmp/requirements.txt

# platbot itself, from a wheel (a plain, non-editable install: the knowledge is package data).
COPY . ./
RUN /opt/platbot/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && /opt/platbot/bin/pip install --no-deps /tmp/wheels/platbot-*.whl \
    && /opt/platbot/bin/pip check \
    && /opt/platbot/bin/pip uninstall --yes pip setuptools wheel

# Any command that loads the knowledge writes the index: built once here, not at each start.
RUN /opt/platbot/bin/platbot list > /dev/null \
    && ls /var/cache/platbot/index-*.bin > /dev/null

# --- the image: the venv, the index and a user; no compilers, no sources, no pip in the venv --
FROM ${BASE_IMAGE}

# uid 10001: outside the range of the base's own users, and what the deployment templates
# (deploy/) expect.
RUN groupadd --system --gid 10001 platbot \
    && useradd --system --uid 10001 --gid platbot --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin platbot

COPY --from=builder /opt/platbot /opt/platbot
# Where the questions are recorded when no PLATBOT_DATABASE_URL is given: a SQLite file that
# uid 10001 may write (mount a volume here to keep it across containers).
RUN mkdir -p /var/lib/platbot && chown 10001:10001 /var/lib/platbot
# Owned by platbot: an index made stale by a mounted knowledge directory can be replaced.
COPY --from=builder --chown=10001:10001 /var/cache/platbot /var/cache/platbot

ENV PATH=/opt/platbot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PLATBOT_CACHE_DIR=/var/cache/platbot \
    XDG_DATA_HOME=/var/lib/platbot \
    PORT=3000

# Scratch space for a read-only root filesystem: ECS (Fargate included) copies a VOLUME path's
# contents and mode from the image into a bind mount at the same path, so /tmp stays 1777 and
# uid 10001 can write there (gunicorn's worker files, the shared record of handled events).
VOLUME ["/tmp"]

USER 10001:10001
WORKDIR /
EXPOSE 3000

# HTTP mode: GET /healthz must answer 200 (curl is not in the image; python is).
# Socket Mode (SLACK_APP_TOKEN set) has no HTTP server to ask: the check passes, and the
# process itself is the signal (the Socket Mode client reconnects on its own; if platbot
# exits, so does the container). Forcing `serve http` with SLACK_APP_TOKEN set skips the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as r; os.environ.get('SLACK_APP_TOKEN') or r.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# `serve` with no mode: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT. The command
# is what a task overrides: `serve http`, `serve socket`, or `digest` on a weekly schedule (ECS
# container overrides replace the command, never the entrypoint).
ENTRYPOINT ["platbot"]
CMD ["serve"]
