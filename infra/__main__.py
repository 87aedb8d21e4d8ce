"""`pulumi up` runs this (Pulumi.yaml: main: infra/). The program is c2d.infra.program."""

from c2d.infra.program import deploy

deploy()
