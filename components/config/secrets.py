"""The settings only a person can supply, and the one way components read them.

They are declared here, not in the schema: they never enter StackConfig, so a value never sits in a plain model. The
loader checks each was set as a `secure:` value; components read them with `secret()`, so they stay Pulumi secrets
from the config API to the Kubernetes Secret. Beside the schema, below every rule and the loader.
"""

from __future__ import annotations

import pulumi

from components.problem import NAMESPACE

# Keys that may only hold values a person supplies, and only as `secure:` values. They never enter StackConfig:
# components read them with `secret()` so they stay Pulumi secrets from the config API to the Kubernetes Secret.
SECRET_KEYS = {
    "slackWebhookUrl": "the Slack incoming-webhook URL Alertmanager and ElastAlert post to",
    # A dead-man's-switch check URL (healthchecks.io, Dead Man's Snitch, Cronitor...) is a capability: whoever has it
    # can ping the check and hide an outage, so it is a secret too.
    "heartbeatUrl": "the external heartbeat (dead-man's switch) URL Alertmanager sends the always-firing Watchdog to",
}


def secret(key: str) -> pulumi.Output[str] | None:
    """A person-supplied secret from SECRET_KEYS, as a Pulumi secret (validated as `secure:` by load())."""
    if key not in SECRET_KEYS:
        raise KeyError(f"{key} is not a declared secret key")
    return pulumi.Config(NAMESPACE).get_secret(key)
