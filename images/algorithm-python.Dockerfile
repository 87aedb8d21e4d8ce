# c2d: the runtime algorithms run in (python, nothing else). Runs as an unprivileged user with
# /data mounted by the executor; no c2d code inside.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LANG=C.UTF-8 HOME=/tmp
# Entrypoints say `python $ALGO`; Debian's images only name it python3.
RUN command -v python >/dev/null || ln -s "$(command -v python3)" /usr/local/bin/python
WORKDIR /data
USER 10001:10001
