# Sourced by the tasks that act as a stack's deployer (pulumi.sh, smoke.sh): log in to Azure as the stack's deployer
# identity with the Concourse idtoken the job was given (AZURE_ID_TOKEN, from the stack's idtoken var source), and
# nothing else. The token goes to a file only this task's user can read, and every client reads it from there:
# - azure-native and azuread: ARM_USE_OIDC with ARM_OIDC_TOKEN_FILE_PATH (pulumi-azure-native
#   provider/pkg/provider/auth.go; terraform-provider-azuread internal/provider/provider.go);
# - azure-identity (the program, tools/deployer_token.py's Vault login token), the Blob state backend and the Key Vault
#   secrets provider (Go CDK: azidentity's default chain): workload identity from AZURE_FEDERATED_TOKEN_FILE,
#   AZURE_CLIENT_ID and AZURE_TENANT_ID;
# - kubelogin: AAD_LOGIN_METHOD=workloadidentity overrides the kubeconfig's --login and reads the same three.
# No account key and no client secret: the state backend reaches the container as the identity (Storage Blob Data
# Contributor); the Go CDK's azureblob opener uses a shared key only when one is in its environment, and otherwise the
# default credential chain, which includes workload identity.
: "${ARM_CLIENT_ID:?}" "${ARM_TENANT_ID:?}" "${AZURE_ID_TOKEN:?}"
azure_token_file="$(mktemp)"  # mktemp creates it mode 0600
printf '%s' "$AZURE_ID_TOKEN" >"$azure_token_file"
unset AZURE_ID_TOKEN  # from here on only the file holds it, and no child process inherits it
export ARM_USE_OIDC=true ARM_OIDC_TOKEN_FILE_PATH="$azure_token_file"
export AZURE_FEDERATED_TOKEN_FILE="$azure_token_file" AZURE_CLIENT_ID="$ARM_CLIENT_ID" AZURE_TENANT_ID="$ARM_TENANT_ID"
export AAD_LOGIN_METHOD=workloadidentity
