"""c2d's policy pack: `pulumi up --policy-pack policies/` (the rules: c2d.infra.policies)."""

from pulumi_policy import PolicyPack

from c2d.infra.policies import POLICIES

PolicyPack(name="c2d", policies=POLICIES)
