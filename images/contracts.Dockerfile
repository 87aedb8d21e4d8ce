# c2d: the contracts Job of an in-cluster deployment. brownie's own environment (the exact pins
# of requirements/brownie.lock) and the compiled contracts project; images/contracts-job.py
# deploys them (reusing what is on chain) and records the addresses in the ConfigMap
# c2d-contracts. Wheels and project come from the build context (scripts/images.sh stages
# them), so the build needs no network. BASE: any Debian-based image with Python 3.11.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LANG=C.UTF-8 HOME=/tmp PATH=/opt/brownie/bin:/usr/local/bin:/usr/bin:/bin
COPY .toolchain/images/brownie /wheels
RUN python3 -m venv --without-pip /opt/brownie \
 && /opt/brownie/bin/python /wheels/_pip.zip/pip install -q --no-index --find-links /wheels -r /wheels/brownie.lock \
 && rm -rf /wheels
COPY .toolchain/images/contracts /opt/c2d-contracts
COPY images/contracts-job.py /opt/c2d-contracts-job.py
USER 10001:10001
ENTRYPOINT ["/opt/brownie/bin/python", "/opt/c2d-contracts-job.py"]
