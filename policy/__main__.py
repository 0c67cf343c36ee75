"""Entry point Pulumi runs for `--policy-pack policy`: serves every cdstack policy, mandatory unless a policy or the
stack's `config.<stack>.json` says otherwise."""

from cdstack_policy import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
