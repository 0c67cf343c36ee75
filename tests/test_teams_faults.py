"""The team provider against a fake Concourse API with every fault the load balancer path produces.

Each scenario asserts four things: the outcome (the team written, or one clear error), the time taken within the
operation's budget, the error's text (one line: team, method, URL, last status or exception), and the server-side
state (no half-written team, no team written that Pulumi is told failed). Budgets are seconds, per-attempt bounds
half a second, and backoff waits go to a virtual clock, so the suite takes seconds, not minutes.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.concourse.team_api import Budget, RealClock, TeamApiError, wait_for_api
from components.concourse.teams import ApiReadyProvider, TeamProvider
from tests.fake_concourse import GROUP, OTHER_GROUP, FakeConcourse, VirtualClock, auth_of, props, running

BOUNDS = {"connect_timeout": 0.5, "read_timeout": 0.5, "first_wait": 0.05, "max_wait": 0.4, "min_attempt": 0.05}
"""Per-attempt bounds scaled down with the budget (3 s in `props`); the real ones are 10 s, 30 s, 1 s, 30 s, 1 s."""
SLACK = 0.5
"""What an operation may run past its budget: the last exchange's own wind-down, on a busy test machine."""
TEAM = "/api/v1/teams/payments"


@pytest.fixture
def concourse() -> Iterator[FakeConcourse]:
    with running() as server:
        yield server


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def provider(clock: VirtualClock) -> TeamProvider:
    return TeamProvider(clock, BOUNDS)


def timed(clock: VirtualClock | RealClock, call: Any) -> tuple[Any, float]:
    start = clock.now()
    try:
        result = call()
    except TeamApiError as error:
        result = error
    return result, clock.now() - start


def one_line_error(result: Any, *parts: str) -> str:
    assert isinstance(result, TeamApiError), result
    text = str(result)
    assert "\n" not in text
    for part in ("team 'payments'", *parts):
        assert part in text, text
    return text


# ---------------------------------------------------------------------------------------------------------------------
# Load balancer and backend rotation


def test_a_burst_of_503s_is_ridden_out_with_jittered_backoff(concourse, provider, clock):
    concourse.faults = ["503"] * 6
    result, took = timed(clock, lambda: provider.create(props(concourse)))
    assert result.id == "payments"
    assert concourse.teams["payments"]["auth"] == auth_of()
    assert took <= 3 + SLACK
    assert len(clock.sleeps) == 6
    assert all(0 <= wait <= BOUNDS["max_wait"] for wait in clock.sleeps)
    assert len(set(clock.sleeps)) > 1  # jittered, not a fixed ladder


def test_5xx_until_the_deadline_fails_with_status_and_body(concourse, provider, clock):
    concourse.faults = ["PUT:503"] * 1000
    result, took = timed(clock, lambda: provider.create(props(concourse)))
    text = one_line_error(result, f"PUT {concourse.url}{TEAM}")
    # The last attempt can start with milliseconds of the budget left (backoff is virtual time, requests are real) and
    # be cut while its reply arrives, more often on a loaded machine: the status is named either way, the body when
    # the reply arrived whole.
    whole, cut = "503 Service Unavailable: no healthy upstream", "503 reply still arriving at the deadline"
    assert whole in text or cut in text, text
    assert "still failing at the deadline" in text and "of a 3s budget" in text
    assert 3 - 0.5 <= took <= 3 + SLACK  # used the budget, and no more
    assert "payments" not in concourse.teams


def test_retry_after_is_honoured(concourse, provider, clock):
    concourse.faults = ["503 retry-after=2"]
    result, took = timed(clock, lambda: provider.create(props(concourse, budgetSeconds=10)))
    assert result.id == "payments"
    assert clock.sleeps == [2.0]
    assert took <= 10


def test_retry_after_beyond_the_budget_fails_at_once_saying_so(concourse, provider, clock):
    concourse.faults = ["503 retry-after=3600"]
    result, took = timed(clock, lambda: provider.create(props(concourse)))
    text = one_line_error(result, "503 Service Unavailable", "the server asked to wait 3600s (Retry-After)")
    assert "which does not fit the 3.0s left of the budget" in text
    assert "still failing at the deadline" not in text  # the budget was not used up: the server's advice did not fit
    assert clock.sleeps == []
    assert took < 1
    assert "payments" not in concourse.teams


def test_a_stalled_handshake_costs_one_connect_bound(tls_server, trusted_ca, provider, clock):
    tls_server.conn_faults = ["stall"]
    result, took = timed(clock, lambda: provider.create(props(tls_server)))
    assert result.id == "payments"
    assert tls_server.teams["payments"]["auth"] == auth_of()
    assert took <= 3 + SLACK


def test_stalled_handshakes_until_the_deadline_fail_within_the_budget(tls_server, trusted_ca, provider, clock):
    tls_server.conn_faults = ["stall"] * 100
    result, took = timed(clock, lambda: provider.create(props(tls_server)))
    text = one_line_error(result, f"POST {tls_server.url}/sky/issuer/token", "still failing at the deadline")
    assert "TLS handshake timed out" in text and "Read timed out" not in text
    assert took <= 3 + SLACK
    assert "payments" not in tls_server.teams


def test_a_stalled_handshake_before_a_put_is_no_write_that_may_have_landed(tls_server, trusted_ca, provider, clock):
    """urllib3 2.x raises a handshake that times out as a read timeout; it is reported as the handshake's, and since
    the PUT never left, the next attempt does not read first and the failure does not ask for a refresh."""
    outs = provider.create(props(tls_server)).outs
    tls_server.faults = ["POST:close"]  # the login's connection closes: the PUT needs a new handshake, which stalls
    tls_server.conn_faults = ["", *["stall"] * 100]
    changed = props(tls_server, groups=(OTHER_GROUP,))
    result, took = timed(clock, lambda: provider.update("payments", outs, changed))
    text = one_line_error(result, f"PUT {tls_server.url}{TEAM}", "TLS handshake timed out", "nothing was sent")
    assert "a write may still have landed" not in text and "Read timed out" not in text
    assert took <= 3 + SLACK
    assert tls_server.count("GET", TEAM) == 1  # create's existence check only: no read for a write that never left
    assert tls_server.teams["payments"]["auth"] == auth_of()


def test_one_stalled_handshake_before_a_put_is_retried_without_a_confirming_read(
    tls_server, trusted_ca, provider, clock
):
    outs = provider.create(props(tls_server)).outs
    tls_server.faults = ["POST:close"]
    tls_server.conn_faults = ["", "stall"]
    changed = props(tls_server, groups=(OTHER_GROUP,))
    result, took = timed(clock, lambda: provider.update("payments", outs, changed))
    assert result.outs["auth"] == auth_of(OTHER_GROUP)
    assert tls_server.teams["payments"]["auth"] == auth_of(OTHER_GROUP)
    assert tls_server.count("GET", TEAM) == 1
    assert took <= 3 + SLACK


def test_a_409_is_retried_and_a_403_is_not(concourse, provider, clock):
    concourse.faults = ["PUT:409"]
    created, took = timed(clock, lambda: provider.create(props(concourse)))
    assert created.id == "payments"
    assert len(clock.sleeps) == 1
    assert took <= 3 + SLACK
    concourse.faults = ["PUT:403"]
    clock.sleeps.clear()
    changed = props(concourse, groups=(GROUP, OTHER_GROUP))
    result, took = timed(clock, lambda: provider.update("payments", props(concourse), changed))
    one_line_error(result, f"PUT {concourse.url}{TEAM}", "403 Forbidden (the user is not an admin of the main team)")
    assert clock.sleeps == []
    assert took < 1
    assert concourse.teams["payments"]["auth"] == auth_of()


# ---------------------------------------------------------------------------------------------------------------------
# Replies cut short, slow or malformed


@pytest.mark.parametrize(
    "fault", ["reset-after-commit", "truncated-after-commit", "empty-after-commit", "500-after-commit"]
)
def test_a_write_that_landed_behind_a_bad_reply_is_confirmed_by_a_read(concourse, provider, clock, fault):
    """The PUT committed but its reply was lost: the next attempt reads the team, finds this auth, and stops."""
    concourse.faults = [f"PUT:{fault}"]
    result, took = timed(clock, lambda: provider.create(props(concourse)))
    assert result.id == "payments"
    assert result.outs["teamId"] == concourse.teams["payments"]["id"]
    assert concourse.teams["payments"]["auth"] == auth_of()
    assert concourse.count("PUT", TEAM) == 1  # confirmed, not written twice
    assert concourse.count("GET", TEAM) == 2  # the existence check, then the confirming read
    assert took <= 3 + SLACK


def test_a_proxy_page_instead_of_json_is_retried(concourse, provider, clock):
    concourse.faults = ["PUT:html", "GET:502-html"]
    result, took = timed(clock, lambda: provider.create(props(concourse)))
    assert result.id == "payments"
    assert took <= 3 + SLACK
    assert concourse.teams["payments"]["auth"] == auth_of()
    assert concourse.count("PUT", TEAM) == 2  # the read showed the first PUT had not landed


def test_malformed_replies_until_the_deadline_name_what_arrived(concourse, provider, clock):
    provider.create(props(concourse))
    concourse.faults = ["GET:html"] * 1000
    result, took = timed(clock, lambda: provider.read("payments", props(concourse)))
    one_line_error(result, f"GET {concourse.url}{TEAM}", "200 reply is not JSON (text/html", "Sign in to continue")
    assert took <= 3 + SLACK


def test_a_slow_reply_is_abandoned_after_the_read_bound_and_retried(concourse, provider, clock):
    provider.create(props(concourse))
    concourse.faults = ["GET:slow=2"]
    result, took = timed(clock, lambda: provider.read("payments", props(concourse)))
    assert result.id == "payments"
    assert concourse.count("GET", TEAM) == 3  # create's check, the slow one, the retry
    assert took <= 1 + SLACK


def test_a_drip_fed_body_cannot_outlast_the_budget(concourse, provider, clock):
    provider.create(props(concourse))
    concourse.faults = ["GET:drip=0.2"] * 100  # about 0.2 s per byte of a 150-byte team: 30 s each
    result, took = timed(clock, lambda: provider.read("payments", props(concourse)))
    one_line_error(result, f"GET {concourse.url}{TEAM}", "still failing at the deadline")
    assert took <= 3 + SLACK


# ---------------------------------------------------------------------------------------------------------------------
# Tokens, names, certificates


def test_an_expired_token_gets_one_fresh_login(concourse, provider, clock):
    provider.create(props(concourse))
    concourse.faults = ["PUT:expire-token"]
    changed = props(concourse, groups=(OTHER_GROUP,))
    _, took = timed(clock, lambda: provider.update("payments", props(concourse), changed))
    assert took <= 3 + SLACK
    assert concourse.teams["payments"]["auth"] == auth_of(OTHER_GROUP)
    assert concourse.logins == 3  # create, update, and the fresh one
    assert clock.sleeps == []


def test_a_token_refused_after_a_fresh_login_fails_at_once(concourse, provider, clock):
    provider.create(props(concourse))
    concourse.faults = ["PUT:expire-token", "PUT:expire-token"]
    changed = props(concourse, groups=(OTHER_GROUP,))
    result, took = timed(clock, lambda: provider.update("payments", props(concourse), changed))
    one_line_error(result, f"PUT {concourse.url}{TEAM}", "401 Unauthorized (Concourse refused a fresh token)")
    assert took < 1
    assert concourse.logins == 3
    assert concourse.teams["payments"]["auth"] == auth_of()


def test_a_login_failing_inside_an_update_says_nothing_was_sent(concourse, provider, clock):
    """A 503 on the token request is ambiguous for the token, not for the team: no PUT left."""
    outs = provider.create(props(concourse)).outs
    concourse.faults = ["POST:503"] * 1000
    changed = props(concourse, groups=(OTHER_GROUP,))
    result, took = timed(clock, lambda: provider.update("payments", outs, changed))
    text = one_line_error(
        result,
        f"POST {concourse.url}/sky/issuer/token",
        "log in as local user 'admin': 503 Service Unavailable",
        "the login failed, so nothing was sent to the team",
    )
    assert "a write may still have landed" not in text
    assert took <= 3 + SLACK
    assert concourse.count("PUT", TEAM) == 1  # create's
    assert concourse.teams["payments"]["auth"] == auth_of()


def test_a_wrong_password_fails_at_once(concourse, provider, clock):
    result, took = timed(clock, lambda: provider.create(props(concourse, adminPassword="wrong")))
    one_line_error(result, f"POST {concourse.url}/sky/issuer/token", "401 Unauthorized", "Invalid username or password")
    assert clock.sleeps == []
    assert took < 1
    assert "payments" not in concourse.teams


@pytest.fixture
def fake_dns(monkeypatch) -> Iterator[threading.Event]:
    """Names ending .unresolvable do not resolve; names ending .hangs answer 127.0.0.1 only once released."""
    real = socket.getaddrinfo
    release = threading.Event()

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(".unresolvable"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if str(host).endswith(".hangs"):
            release.wait(30)
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield release
    release.set()


def test_an_unresolvable_host_fails_after_the_budget(fake_dns, provider, clock):
    url = "https://ci.cd.contoso.unresolvable"
    result, took = timed(clock, lambda: provider.create({**props_without_server(), "url": url}))
    one_line_error(result, f"POST {url}/sky/issuer/token", "host 'ci.cd.contoso.unresolvable' does not resolve")
    assert 3 - 0.5 <= took <= 3 + SLACK  # a new record may still be propagating: retried, but only so long


def test_a_hanging_dns_lookup_is_bounded_and_sends_nothing_once_it_answers(fake_dns, concourse, provider, clock):
    url = f"http://ci.cd.contoso.hangs:{concourse.server_address[1]}"
    result, took = timed(clock, lambda: provider.create(props(concourse, url=url)))
    one_line_error(result, f"POST {url}/sky/issuer/token", "no complete answer within")
    assert took <= 3 + SLACK
    fake_dns.set()  # the lookup answers after the operation gave up: the abandoned attempt must not send
    concourse.stopping.wait(0.5)
    assert concourse.requests == []


def props_without_server() -> dict[str, Any]:
    return {"teamName": "payments", "auth": auth_of(), "adminUser": "admin", "adminPassword": "x", "budgetSeconds": 3}


def test_an_untrusted_certificate_fails_at_once(tls_server, provider, clock):
    result, took = timed(clock, lambda: provider.create(props(tls_server)))
    one_line_error(result, f"POST {tls_server.url}/sky/issuer/token", "TLS certificate rejected", "code 20")
    assert clock.sleeps == []
    assert took < 1
    assert "payments" not in tls_server.teams


# ---------------------------------------------------------------------------------------------------------------------
# Concurrency and late commits


def test_twenty_teams_through_a_rotating_backend_do_not_retry_in_lockstep(concourse):
    concourse.faults = ["503"] * 40
    clocks = [VirtualClock() for _ in range(20)]
    results: dict[str, Any] = {}

    def create(i: int) -> None:
        name = f"team-{i:02d}"
        try:
            results[name] = TeamProvider(clocks[i], BOUNDS).create(props(concourse, name=name, budgetSeconds=10))
        except TeamApiError as error:
            results[name] = error

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [f"team-{i:02d}" for i in range(20)]
    assert not [r for r in results.values() if isinstance(r, TeamApiError)]
    assert len(concourse.teams) == 21
    first_waits = [clock.sleeps[0] for clock in clocks if clock.sleeps]
    assert len(first_waits) >= 2 and len(set(first_waits)) == len(first_waits)


def test_a_late_commit_within_one_operation_is_not_mistaken_for_someone_elses_team(concourse, provider, clock):
    """The first PUT commits after the client gave up on it; the retry finds this auth and adopts its own write."""
    concourse.faults = ["PUT:slow=1"]
    result, took = timed(clock, lambda: provider.create(props(concourse, budgetSeconds=5)))
    assert result.id == "payments"
    assert took <= 5 + SLACK
    concourse.stopping.wait(1.2)  # let the late commit land
    assert [team["name"] for team in concourse.teams.values()] == ["main", "payments"]
    assert concourse.teams["payments"]["auth"] == auth_of()


def test_a_late_commit_within_the_read_bound_is_overwritten_before_the_newer_update_succeeds(concourse):
    """An update fails with its PUTs abandoned, which commit 0.8 s after they were sent, within the connect and read
    bounds (0.5 s + 0.5 s); the next update of the team in this process waits those out, reads, finds the stale auth
    and sends its own again, so it is what stays. Real time: the late commits happen on the server's clock."""
    provider = TeamProvider(RealClock(), BOUNDS)
    outs = provider.create(props(concourse)).outs
    assert outs is not None
    concourse.faults = ["PUT:slow=0.8"] * 5
    with pytest.raises(TeamApiError, match="a write may still have landed"):
        provider.update("payments", outs, props(concourse, groups=(OTHER_GROUP,), budgetSeconds=1))
    concourse.faults.clear()
    newer = props(concourse, groups=(GROUP, OTHER_GROUP))
    result = provider.update("payments", outs, newer)
    assert result.outs is not None and result.outs["auth"] == auth_of(GROUP, OTHER_GROUP)
    concourse.stopping.wait(1.2)  # anything still held by the server has landed by now
    assert concourse.teams["payments"]["auth"] == auth_of(GROUP, OTHER_GROUP)
    assert concourse.count("PUT", TEAM) >= 4  # create, two abandoned, the newer one (and again if overtaken)


def test_a_late_commit_over_a_newer_update_is_found_by_refresh(concourse, provider, clock):
    """Concourse's API has no conditional write, so a write that lands after its operation failed can overwrite a
    newer one; the error says so, and `pulumi up --refresh` (read, then diff) finds and repairs it. Here the virtual
    clock stands for a server that holds the stale PUTs longer than the connect and read bounds: the newer update's
    confirming read comes before they land, and only the refresh sees them."""
    outs = provider.create(props(concourse)).outs
    assert outs is not None
    concourse.faults = ["PUT:slow=1.5"] * 5
    failed, _ = timed(
        clock, lambda: provider.update("payments", outs, props(concourse, groups=(OTHER_GROUP,), budgetSeconds=1))
    )
    one_line_error(failed, "a write may still have landed: run `pulumi up --refresh --run-program`")
    concourse.faults.clear()
    newer = props(concourse, groups=(GROUP, OTHER_GROUP))
    outs = provider.update("payments", outs, newer).outs
    concourse.stopping.wait(2)  # the stale writes land over the newer one
    assert concourse.teams["payments"]["auth"] == auth_of(OTHER_GROUP)
    refreshed = provider.read("payments", outs).outs
    assert refreshed is not None and refreshed["auth"] == auth_of(OTHER_GROUP)
    assert provider.diff("payments", refreshed, newer).changes is True


# ---------------------------------------------------------------------------------------------------------------------
# A team that already exists


def test_an_existing_team_with_this_auth_is_adopted(concourse, provider):
    concourse.teams["payments"] = {"id": 7, "name": "payments", "auth": auth_of()}
    result = provider.create(props(concourse))
    assert result.outs is not None and result.outs["teamId"] == 7
    assert concourse.count("PUT", TEAM) == 0


def test_an_existing_team_with_other_auth_is_refused(concourse, provider, clock):
    concourse.teams["payments"] = {"id": 7, "name": "payments", "auth": auth_of(OTHER_GROUP)}
    result, took = timed(clock, lambda: provider.create(props(concourse)))
    text = one_line_error(result, f"GET {concourse.url}{TEAM}", "already exists in Concourse with other auth")
    assert took < 1
    assert "fly set-team" in text and "fly destroy-team" in text and "pulumi/pulumi#16175" in text
    assert concourse.teams["payments"]["auth"] == auth_of(OTHER_GROUP)
    assert concourse.count("PUT", TEAM) == 0


# ---------------------------------------------------------------------------------------------------------------------
# The certificate race on the first `up`


def test_the_api_wait_outlasts_the_placeholder_certificate(pki, tls_server, trusted_ca, clock):
    """Traefik presents its self-signed default until cert-manager's Secret exists: waited out, then the real one."""
    tls_server.tls = server_context(pki, "default")
    switch = threading.Timer(0.5, lambda: setattr(tls_server, "tls", server_context(pki, "leaf")))
    switch.start()
    # Real time here: the certificate changes on the server's clock, not on a virtual one.
    ready, took = timed(
        RealClock(), lambda: ApiReadyProvider(None, BOUNDS).create({"url": tls_server.url, "waitSeconds": 5})
    )
    switch.join()
    assert ready.id == tls_server.url
    assert ready.outs is not None and ready.outs["version"] == "8.0.1"
    assert 0.5 <= took <= 5


def test_the_api_wait_gives_up_at_its_deadline_naming_the_certificate(pki, tls_server, trusted_ca, clock):
    tls_server.tls = server_context(pki, "default")
    start = clock.now()
    with pytest.raises(TeamApiError, match=r"GET https://127\.0\.0\.1:\d+/api/v1/info: .*self-signed certificate"):
        wait_for_api(tls_server.url, Budget(seconds=2, clock=clock, **BOUNDS))
    assert clock.now() - start <= 2 + SLACK


def test_the_api_wait_does_not_wait_out_an_untrusted_ca(tls_server, clock):
    with pytest.raises(TeamApiError, match="code 20"):
        wait_for_api(tls_server.url, Budget(seconds=5, clock=clock, **BOUNDS))
    assert clock.sleeps == []


# ---------------------------------------------------------------------------------------------------------------------
# Throwaway certificates


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A CA, a certificate for 127.0.0.1 it signs, and a self-signed one like Traefik's default: PEM file stems."""
    x509 = pytest.importorskip("cryptography.x509", reason="the certificate scenarios need the cryptography package")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key: Any, issuer: str, issuer_key: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(name: str, cert: Any, key: Any) -> None:
        (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (folder / f"{name}.key").write_bytes(pem)

    ca_key, leaf_key, default_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    write("ca", certificate("cdstack test CA", ca_key, "cdstack test CA", ca_key, ca=True), ca_key)
    write("leaf", certificate("127.0.0.1", leaf_key, "cdstack test CA", ca_key, ca=False), leaf_key)
    default = certificate("TRAEFIK DEFAULT CERT", default_key, "TRAEFIK DEFAULT CERT", default_key, ca=False)
    write("default", default, default_key)
    return {name: folder / name for name in ("ca", "leaf", "default")}


def server_context(pki: dict[str, Path], name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{pki[name]}.pem", f"{pki[name]}.key")
    return context


@pytest.fixture
def tls_server(pki) -> Iterator[FakeConcourse]:
    with running(server_context(pki, "leaf")) as server:
        yield server


@pytest.fixture
def trusted_ca(monkeypatch, pki) -> None:
    """Trust the test CA the way an operator trusts Let's Encrypt's staging roots: REQUESTS_CA_BUNDLE."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", f"{pki['ca']}.pem")
