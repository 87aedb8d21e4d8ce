# c2d: the runtime algorithms run in (python3, nothing else). Runs as an unprivileged user with
# /data mounted by the executor; no c2d code inside.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LANG=C.UTF-8 HOME=/tmp
WORKDIR /data
USER 10001:10001
