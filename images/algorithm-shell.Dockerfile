# c2d: the minimal runtime (entrypoint `sh $ALGO`): the base's POSIX shell and coreutils, its
# python taken out. Runs as an unprivileged user with /data mounted by the executor.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
RUN rm -f /usr/bin/python3* /usr/local/bin/python* && sh -c 'test -x /bin/sh'
ENV LANG=C.UTF-8 HOME=/tmp
WORKDIR /data
USER 10001:10001
