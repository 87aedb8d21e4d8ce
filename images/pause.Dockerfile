# The pod sandbox ("pause") image of the test cluster, built from Kubernetes' own pause.c
# (scripts/images.sh compiles it statically from Debian's kubernetes source package).
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
