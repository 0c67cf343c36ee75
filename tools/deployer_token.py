"""Print the deployer's Azure Resource Manager access token, for the Vault provider's JWT login.

    export TERRAFORM_VAULT_AUTH_JWT="$(.venv/bin/python -m tools.deployer_token)"
    pulumi up --stack <stack>

The Vault provider reads its login token from TERRAFORM_VAULT_AUTH_JWT in the environment of the `pulumi` command
(components/vault/login.py says why it is not a provider input). The token comes from the same Azure identity the
program's own Azure calls use (`vault_login.azure_credential`): in the infra pipeline the stack's deployer identity
through workload identity (the job's Concourse idtoken in AZURE_FEDERATED_TOKEN_FILE, ci/tasks/azure-login.sh), a
service principal with ARM_CLIENT_SECRET elsewhere, `az login` on a laptop. It lives about an hour: export it again
before each command once it has expired.
"""

from __future__ import annotations

import sys

from components.vault import login as vault_login


def main() -> int:
    try:
        token = vault_login.arm_token()
    except Exception as error:  # azure-identity raises its own types; say what failed and stop
        print(f"deployer_token: no Azure access token: {error}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
