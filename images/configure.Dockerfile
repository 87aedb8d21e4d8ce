# c2d: the configure stage: fetches and verifies a job's inputs into /job/data.
# BASE: any Debian-based image with Python 3.11 (public python:3.11-slim-bookworm by default;
# the test cluster builds FROM its local debootstrap image). Wheels come from the build context
# (scripts/images.sh prepares them), so the build itself needs no network.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LANG=C.UTF-8 HOME=/tmp PATH=/opt/c2d/bin:/usr/local/bin:/usr/bin:/bin
COPY .toolchain/images/deps /wheels/deps
RUN python3 -m venv --without-pip /opt/c2d \
 && /opt/c2d/bin/python /wheels/deps/_pip.zip/pip install -q --no-index --find-links /wheels/deps /wheels/deps/*.whl \
 && rm -rf /wheels
COPY .toolchain/images/c2d /wheels/c2d
RUN /opt/c2d/bin/python /wheels/c2d/_pip.zip/pip install -q --no-index --no-deps /wheels/c2d/c2d-*.whl && rm -rf /wheels

USER 10001:10001
ENTRYPOINT ["python", "-m", "c2d.pods.configure"]
