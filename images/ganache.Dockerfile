# c2d: the development chain of an in-cluster deployment (Ganache 7, the chain the embedded
# stack uses). BASE: an image with Node.js 18+ (node:20-bookworm-slim by default); on a base
# without node, the build machine's node binary, staged by scripts/images.sh, is used.
ARG BASE=node:20-bookworm-slim
FROM ${BASE}
COPY .toolchain/images/ganache /opt/ganache
RUN command -v node >/dev/null || ln -s /opt/ganache/bin/node /usr/local/bin/node
USER 10001:10001
ENV HOME=/tmp
ENTRYPOINT ["node", "/opt/ganache/node_modules/ganache/dist/node/cli.js"]
