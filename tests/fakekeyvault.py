"""A fake Azure Key Vault for the initialiser's tests: there is no Key Vault engine to run here, so this is our own
reading of the few secret operations the initialiser uses (components/vault/init.py `SecretStore`), plus the faults
a test plants in it (a role assignment not yet propagated, a process killed mid-way)."""

from __future__ import annotations

from dataclasses import dataclass, field


class ForbiddenError(Exception):
    """What azure-core raises when the role assignment has not reached Key Vault yet (HttpResponseError 403)."""

    status_code = 403


class Crash(BaseException):
    """The process dying mid-way (a BaseException, so no `except Exception` in the code under test catches it)."""


@dataclass
class FakeKeyVault:
    """Secrets by name (latest version), with every version kept, as Key Vault keeps them."""

    versions: dict[str, list[str]] = field(default_factory=dict)
    forbidden_writes: int = 0
    crash_on: str | None = None

    def get(self, name: str) -> str | None:
        return self.versions[name][-1] if name in self.versions else None

    def set(self, name: str, value: str) -> None:
        if self.forbidden_writes > 0:
            self.forbidden_writes -= 1
            raise ForbiddenError("(Forbidden) Caller is not authorized to perform action on resource.")
        if name == self.crash_on:
            self.crash_on = None
            raise Crash(f"killed before storing {name}")
        self.versions.setdefault(name, []).append(value)
