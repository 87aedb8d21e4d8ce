# c2d: the Node.js runtime algorithms run in (entrypoint `node $ALGO`), from the same base as
# every c2d image. node is the build machine's binary, staged by scripts/images.sh (any glibc
# base runs it); the base's python is taken out: this runtime is node's. Runs as an
# unprivileged user with /data mounted by the executor; no c2d code inside.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
COPY .toolchain/images/node/node /usr/local/bin/node
RUN rm -f /usr/bin/python3* /usr/local/bin/python* && node --version >/dev/null
ENV LANG=C.UTF-8 HOME=/tmp
WORKDIR /data
USER 10001:10001
