"""A client for Concourse's team API that works to a deadline, not to a count of attempts.

Each operation (read, create, update or delete one team) gets one budget of wall-clock time, and everything inside it
is bounded by what is left: the DNS lookup, the TCP connect and TLS handshake, the wait for the reply and the reading
of its body. Transient failures are retried with jittered exponential backoff (tenacity's policy, so twenty teams
do not retry in lockstep), a `Retry-After` is honoured, and an expired token gets one fresh login. What cannot get
better by waiting fails at once: a certificate that does not verify, a 4xx other than 401/409/429, a refused login.
Every failure is one line naming the team, the method, the URL and the last status or exception.

Why a deadline: Concourse is reached through an Azure load balancer, Traefik and one of several web pods. A backend
rotating out of the load balancer (AKS probes every 5 s and takes a node out after 2 misses), a Traefik or web pod
restarting, or a rolling update gives a burst of resets, 502s and 503s lasting seconds to a minute, which a handful
of fast retries does not outlast and a count of slow ones turns into many minutes. Why no request waits longer than
READ_TIMEOUT (30 s) and no backoff longer than MAX_WAIT (30 s): the load balancer silently drops (or, with TCP reset
enabled, resets) a flow idle for its idle timeout, 4 minutes by default
(learn.microsoft.com/azure/load-balancer/load-balancer-tcp-idle-timeout), so a connection of ours is never idle long
enough to be dropped under us, and a dead one is noticed in seconds.

API shapes, from concourse/concourse atc/routes.go, atc/api/teamserver (set.go, get.go, destroy.go) and
skymarshal: `POST /sky/issuer/token` (OAuth2 password grant, fly's client) answers {"access_token", ...} or 401;
`PUT /api/v1/teams/<team>` with {"auth": {...}} answers 201 created / 200 updated with {"team": {"id", "name",
"auth"}, "errors": [...]}, 400 on an invalid auth; it commits before it notifies the team cache, so a 500 can follow
a committed write; `GET` answers the team or 404; `DELETE` 204 or 404; 401 without a valid token, 403 without the
right. `GET /api/v1/info` needs no login and answers once web is up.
"""

from __future__ import annotations

import email.utils
import json
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
import tenacity
import urllib3.exceptions
from requests.structures import CaseInsensitiveDict

# fly's OAuth2 client, built into every Concourse web (atc/atccmd/command.go flyClientID/flyClientSecret); only local
# users can use the password grant. The scopes are fly's own (fly/commands/login.go).
FLY_CLIENT = ("fly", "Zmx5")
TOKEN_SCOPE = "openid profile email federated:id groups"

CONNECT_TIMEOUT = 10.0
"""Upper bound on one TCP connect plus TLS handshake (a stalled handshake costs at most this)."""
READ_TIMEOUT = 30.0
"""Upper bound on one wait for bytes of a reply; far below the load balancer's 4-minute idle timeout."""
FIRST_WAIT = 1.0
MAX_WAIT = 30.0
"""Backoff: random in [0, FIRST_WAIT * 2^n], capped at MAX_WAIT (full jitter), unless Retry-After asks for more."""
WIND_DOWN = 0.2
"""Seconds an attempt's thread is awaited past its socket timeouts, which may end at the deadline itself: a connect,
handshake or read timeout then reports as itself (a handshake timeout sent nothing) and not as an abandoned
attempt that may have written."""
MAX_BODY = 1 << 20
"""A reply larger than this is not Concourse talking (a team is a few hundred bytes)."""
EXCERPT = 200
"""Characters of a reply body kept in an error message."""
RETRY_STATUSES = frozenset({409, 429})
"""The 4xx worth retrying: a conflicting concurrent change, and rate limiting (with Retry-After)."""
PLACEHOLDER_CERT_CODES = frozenset({18, 62})
"""OpenSSL verify codes of a certificate that is not the host's yet: self-signed (Traefik serves its own default
certificate until cert-manager's Secret exists) and hostname mismatch. Only the certificate wait retries them."""

T = TypeVar("T")


class TeamApiError(Exception):
    """A team API operation failed for good. The message is one line: team, method, URL, cause, time spent."""


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Monotonic time and real sleeps; tests inject a clock whose sleeps only advance time."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class Budget:
    """The time one operation may take, and the bounds of each attempt inside it."""

    seconds: float = 150.0
    """cdstack:concourse.teamApiBudgetSeconds sets it for every team."""
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    first_wait: float = FIRST_WAIT
    max_wait: float = MAX_WAIT
    min_attempt: float = 1.0
    """No new attempt starts with less time left than this: it could not finish."""
    clock: Clock = field(default_factory=RealClock)


# ---------------------------------------------------------------------------------------------------------------------
# One attempt's outcome


class RetryableError(Exception):
    """An attempt failed in a way a later attempt may not. `ambiguous`: the request may have reached Concourse, so a
    write may have happened; `pending`: besides, no reply had begun, so the request may still be on its way or in the
    server's hands and commit later; `retry_after`: the server's own advice, in seconds; `login`: the failure was the
    login's, so this attempt sent nothing to the team API."""

    def __init__(
        self,
        problem: str,
        *,
        ambiguous: bool = False,
        pending: bool = False,
        retry_after: float | None = None,
        login: bool = False,
    ):
        super().__init__(problem)
        self.problem = problem
        self.ambiguous = ambiguous
        self.pending = pending
        self.retry_after = retry_after
        self.login = login


class PermanentError(Exception):
    """An attempt failed in a way no retry changes; becomes a TeamApiError with the operation's context.
    `verify_code`: OpenSSL's code when the cause is a certificate that did not verify."""

    def __init__(self, problem: str, *, verify_code: int | None = None, verify_message: str = ""):
        super().__init__(problem)
        self.problem = problem
        self.verify_code = verify_code
        self.verify_message = verify_message


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def status_line(self) -> str:
        """`503 Service Unavailable: <first 200 characters of the body, on one line>`."""
        excerpt = one_line(self.text())[:EXCERPT]
        return f"{self.status} {self.reason}" + (f": {excerpt}" if excerpt else "")

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or a RetryableError naming what arrived instead (a proxy's HTML page, a truncated
        document): a malformed reply says nothing about whether Concourse did the work, so it is ambiguous."""
        try:
            value = json.loads(self.body)
        except ValueError as error:
            kind = self.headers.get("Content-Type", "no content type")
            raise RetryableError(
                f"{self.status} reply is not JSON ({kind}, {len(self.body)} bytes: {error}): "
                f"{one_line(self.text())[:EXCERPT]!r}",
                ambiguous=True,
            ) from None
        if not isinstance(value, dict):
            raise RetryableError(
                f"{self.status} reply is JSON but not an object: {one_line(self.text())[:EXCERPT]!r}", ambiguous=True
            )
        return value


def one_line(text: str) -> str:
    return " ".join(text.split())


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps: requests wraps urllib3, which wraps the socket or ssl error."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [arg for arg in current.args if isinstance(arg, BaseException)]


def certificate_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    return next((e for e in causes(error) if isinstance(e, ssl.SSLCertVerificationError)), None)


def in_handshake(error: BaseException) -> bool:
    """Whether `error` was raised inside the TLS handshake: its innermost frame is the ssl module's
    SSLSocket.do_handshake. Only a new connection shakes hands, and it sends the request after the handshake, so such
    a failure sent nothing. (urllib3 2.x gives a handshake that times out the same ReadTimeoutError, "Read timed out.
    (read timeout=<connect timeout>)", as a reply that does not come: connectionpool._make_request passes the
    socket.timeout raised by _validate_conn -> connect -> ssl_wrap_socket to _raise_timeout. The frame, not the
    message, tells the two apart: the message carries whichever timeout applied, and both may be equal.)"""
    trace = error.__traceback__
    if trace is None:
        return False
    while trace.tb_next is not None:
        trace = trace.tb_next
    code = trace.tb_frame.f_code
    return code.co_name == "do_handshake" and code.co_filename == ssl.__file__


def classify_exception(error: BaseException, connect_timeout: float | None = None, replied: bool = False) -> Exception:
    """A requests exception as RetryableError or PermanentError. Only failures before the request left (refused,
    connect or handshake timeout, a handshake cut off) are unambiguous; a reset or timeout after it may hide a
    committed write, and one before any reply (`replied` False) a write that has not committed yet."""
    cert = certificate_error(error)
    if cert is not None:
        return PermanentError(
            f"TLS certificate rejected ({cert.verify_message}, code {cert.verify_code}); a certificate problem does "
            "not pass by retrying (an untrusted CA needs REQUESTS_CA_BUNDLE)",
            verify_code=cert.verify_code,
            verify_message=cert.verify_message,
        )
    problem = f"{type(error).__name__}: {one_line(str(error))[:EXCERPT]}"
    handshake = next((e for e in causes(error) if in_handshake(e)), None)
    if isinstance(handshake, TimeoutError):
        bound = f" within {connect_timeout:g}s" if connect_timeout is not None else ""
        return RetryableError(
            f"TLS handshake timed out: the TCP connection was accepted but no TLS reply came{bound}, so nothing was "
            "sent (through the Azure load balancer: a backend that takes connections but does not answer, such as a "
            "Traefik pod leaving rotation or overloaded)"
        )
    if handshake is not None:
        return RetryableError(f"TLS handshake failed, so nothing was sent: {type(handshake).__name__}: {handshake}")
    before_send = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
    if isinstance(error, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError) or any(
        isinstance(e, before_send) for e in causes(error)
    ):
        return RetryableError(problem)
    return RetryableError(problem, ambiguous=True, pending=not replied)


def status_outcome(reply: Reply) -> Exception | None:
    """What a non-2xx status means for retrying; None for 2xx. 401 is the caller's (one fresh login)."""
    if 200 <= reply.status < 300:
        return None
    after = retry_after(reply.headers.get("Retry-After"))
    if reply.status >= 500:
        # Concourse's SetTeam answers 500 after committing when notifying its cache fails: ambiguous.
        return RetryableError(reply.status_line(), ambiguous=True, retry_after=after)
    if reply.status in RETRY_STATUSES:
        return RetryableError(reply.status_line(), retry_after=after)
    hint = {
        400: " (Concourse refused the team definition)",
        401: " (Concourse refused the token)",
        403: " (the user is not an admin of the main team)",
    }.get(reply.status, "")
    return PermanentError(reply.status_line() + hint)


# ---------------------------------------------------------------------------------------------------------------------
# Bounded exchanges


class Deadline:
    """The end of one operation's budget, on the budget's clock."""

    def __init__(self, budget: Budget):
        self.budget = budget
        self.started = budget.clock.now()
        self.at = self.started + budget.seconds

    def remaining(self) -> float:
        return max(0.0, self.at - self.budget.clock.now())

    def elapsed(self) -> float:
        return self.budget.clock.now() - self.started


def bounded(work: Callable[[], T], seconds: float, what: str) -> T:
    """Run `work` in a daemon thread and wait at most `seconds`. Socket timeouts bound each connect and each read,
    but not a DNS lookup (getaddrinfo cannot be interrupted) nor a body dripped one byte per read timeout; the thread
    bounds both. An abandoned thread ends on its own socket timeouts, or with the process."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as error:  # handed to the caller below
            box["error"] = error

    thread = threading.Thread(target=run, name=f"team-api {what}", daemon=True)
    thread.start()
    thread.join(seconds + WIND_DOWN)
    if thread.is_alive():
        raise RetryableError(
            f"no complete answer within the {seconds:.1f}s left of the budget", ambiguous=True, pending=True
        )
    if "error" in box:
        raise box["error"]
    return box["value"]


def resolve(url: str) -> None:
    """Look the host up before sending, so a name that does not resolve (yet: a new DNS record) is reported as such,
    and a lookup that outlived the budget sends nothing afterwards."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise RetryableError(f"host {host!r} does not resolve ({error})") from None


def exchange(session: requests.Session, deadline: Deadline, method: str, url: str, **kwargs: Any) -> Reply:
    """One request and its whole reply, within what is left of the budget, or a RetryableError or PermanentError."""
    budget = deadline.budget
    left = deadline.remaining()

    def attempt() -> Reply:
        resolve(url)
        if deadline.remaining() <= 0:
            raise RetryableError("the DNS lookup used up the budget")
        timeout = (min(budget.connect_timeout, left), min(budget.read_timeout, left))
        failures = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError)
        try:
            response = session.request(method, url, timeout=timeout, stream=True, **kwargs)
        except failures as error:
            raise classify_exception(error, timeout[0], replied=False) from None
        with response:
            try:
                body = read_body(response, deadline)
            except failures as error:
                raise classify_exception(error, timeout[0], replied=True) from None
            headers = CaseInsensitiveDict(response.headers)  # HTTP/2 through Traefik lower-cases names
            return Reply(response.status_code, response.reason or "", headers, body)

    return bounded(attempt, left, f"{method} {url}")


def read_body(response: requests.Response, deadline: Deadline) -> bytes:
    """The body as it arrives (read1: whatever the socket has, not a full buffer), giving up at the deadline (a
    drip-fed body never trips a read timeout) or past MAX_BODY. A body cut short by a reset raises urllib3's
    ProtocolError: ambiguous, classified by the caller."""
    chunks: list[bytes] = []
    size = 0
    while chunk := response.raw.read1(16384, decode_content=True):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            raise RetryableError(f"{response.status_code} reply larger than {MAX_BODY} bytes", ambiguous=True)
        if deadline.remaining() <= 0:
            raise RetryableError(
                f"{response.status_code} reply still arriving at the deadline ({size} bytes)", ambiguous=True
            )
    return b"".join(chunks)


class UnsettledWrites:
    """PUTs this process gave up on before any reply began, per (API URL, team): the clock time until which each
    could still have been awaited (sent, plus the connect and read bounds). Concourse has no conditional write, so
    such a PUT that commits late overwrites whatever was written after it; an operation that writes the team after
    one (the same operation's retry, or a later operation in this provider process, which lives for one `up`) reads
    the team again once that time has passed and writes again if the team is not what it sent
    (ConcourseApi._confirmed). What escapes: a PUT that a proxy or Concourse holds longer than our own bounds and then
    commits, or one left by an earlier `up` (another process): `pulumi up --refresh --run-program` finds those."""

    def __init__(self) -> None:
        self._until: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def note(self, key: tuple[str, str], until: float) -> None:
        with self._lock:
            self._until[key] = max(until, self._until.get(key, until))

    def until(self, key: tuple[str, str]) -> float | None:
        with self._lock:
            return self._until.get(key)

    def settle(self, key: tuple[str, str], read_at: float) -> None:
        """Forget the key's PUTs when a read that started at `read_at` came after all of them."""
        with self._lock:
            if self._until.get(key, read_at) <= read_at:
                self._until.pop(key, None)


UNSETTLED = UnsettledWrites()


# ---------------------------------------------------------------------------------------------------------------------
# The retry policy


class JitteredBackoff(tenacity.wait.wait_base):
    """Full-jitter exponential backoff, never shorter than the server's Retry-After, never past the deadline."""

    def __init__(self, deadline: Deadline):
        budget = deadline.budget
        self.deadline = deadline
        self.jitter = tenacity.wait_random_exponential(multiplier=budget.first_wait, max=budget.max_wait)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        asked = error.retry_after if isinstance(error, RetryableError) else None
        if asked is not None:
            return asked  # honoured exactly; OutOfTime stops when it does not fit
        room = self.deadline.remaining() - self.deadline.budget.min_attempt
        return max(0.0, min(self.jitter(retry_state), room))


class OutOfTime(tenacity.stop.stop_base):
    """Stop when the coming wait would leave less than one attempt's minimum before the deadline."""

    def __init__(self, deadline: Deadline):
        self.deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        upcoming = retry_state.upcoming_sleep
        return self.deadline.remaining() - upcoming < self.deadline.budget.min_attempt


@dataclass
class Operation:
    """One operation: what it acts on (the start of every message, "team 'payments'"), and how it went."""

    subject: str
    deadline: Deadline
    attempts: int = 0
    last_call: str = ""
    team_requests: int = 0
    """Requests sent to the team's URL (reads, writes, deletes); a login is not one."""
    last_put: float = 0.0
    """When the latest PUT was sent, on the budget's clock."""
    ambiguous: bool = False
    """Some earlier attempt may have written: the next one reads first (see ConcourseApi._write)."""

    def fail(self, problem: str) -> TeamApiError:
        budget = self.deadline.budget.seconds
        spent = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''} in {self.deadline.elapsed():.1f}s"
        return TeamApiError(f"{self.subject}: {self.last_call}: {problem} ({spent} of a {budget:g}s budget)")


def run(operation: Operation, attempt: Callable[[], T]) -> T:
    """Call `attempt` until it returns, fails permanently or the budget runs out."""
    deadline = operation.deadline

    def counted() -> T:
        operation.attempts += 1
        return attempt()

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(RetryableError),
        wait=JitteredBackoff(deadline),
        stop=OutOfTime(deadline),
        sleep=deadline.budget.clock.sleep,
        reraise=True,
    )
    try:
        return retrying(counted)
    except PermanentError as error:
        raise operation.fail(error.problem) from None
    except RetryableError as error:
        raise operation.fail(final_problem(operation, error)) from None


def final_problem(operation: Operation, error: RetryableError) -> str:
    """Why the operation gave up, and what that means for the team: a write that may still land, or nothing sent."""
    if operation.ambiguous:
        outcome = " (a write may still have landed: run `pulumi up --refresh --run-program`)"
    elif error.login and operation.team_requests == 0:
        outcome = " (the login failed, so nothing was sent to the team)"
    elif error.login:
        outcome = " (the login failed; no earlier request changed the team)"
    else:
        outcome = ""
    deadline = operation.deadline
    left = deadline.remaining()
    if error.retry_after is not None and left - error.retry_after < deadline.budget.min_attempt:
        return (
            f"{error.problem}; the server asked to wait {error.retry_after:g}s (Retry-After), which does not fit the "
            f"{left:.1f}s left of the budget{outcome}"
        )
    return f"still failing at the deadline: {error.problem}{outcome}"


# ---------------------------------------------------------------------------------------------------------------------
# The API


class ConcourseApi:
    """One operation's session with Concourse's API, logged in as a local user of the main team."""

    def __init__(self, url: str, user: str, password: str, budget: Budget):
        self.url = url.rstrip("/")
        self.user = user
        self.password = password
        self.budget = budget
        self.session = requests.Session()
        self._token: str | None = None
        self._fresh_login_used = False

    def close(self) -> None:
        self.session.close()

    def operation(self, team: str) -> Operation:
        return Operation(f"team {team!r}", Deadline(self.budget))

    # -- requests

    def _send(self, op: Operation, method: str, path: str, **kwargs: Any) -> Reply:
        op.last_call = f"{method} {self.url}{path}"
        if path.startswith("/api/v1/teams/"):
            op.team_requests += 1
        if method == "PUT":
            op.last_put = op.deadline.budget.clock.now()
        return exchange(self.session, op.deadline, method, self.url + path, **kwargs)

    def _login(self, op: Operation) -> str:
        """A fresh token. A retryable failure is marked as the login's: the caller's request was not sent, so it is
        no write that may have landed, whatever the token request's own outcome."""
        try:
            return self._token_request(op)
        except RetryableError as error:
            raise RetryableError(
                f"log in as local user {self.user!r}: {error.problem}", retry_after=error.retry_after, login=True
            ) from None

    def _token_request(self, op: Operation) -> str:
        reply = self._send(
            op,
            "POST",
            "/sky/issuer/token",
            auth=FLY_CLIENT,
            data={"grant_type": "password", "username": self.user, "password": self.password, "scope": TOKEN_SCOPE},
        )
        if reply.status == 401:
            raise PermanentError(
                f"log in as local user {self.user!r}: {reply.status_line()} (is the admin password current?)"
            )
        outcome = status_outcome(reply)
        if outcome is not None:
            raise outcome
        token = reply.json_object().get("access_token")
        if not isinstance(token, str) or not token:
            raise RetryableError(f"token reply carries no access_token: {one_line(reply.text())[:EXCERPT]!r}")
        return token

    def _api(self, op: Operation, method: str, path: str, **kwargs: Any) -> Reply:
        """A call with the bearer token; a 401 (an expired or revoked token) gets one fresh login per operation."""
        headers = dict(kwargs.pop("headers", None) or {})
        if self._token is None:
            self._token = self._login(op)
        reply = self._send(op, method, path, headers={**headers, "Authorization": f"Bearer {self._token}"}, **kwargs)
        if reply.status == 401 and not self._fresh_login_used:
            self._fresh_login_used = True
            self._token = None  # a failed login below is retried as a login, never with the refused token
            self._token = self._login(op)
            reply = self._send(
                op, method, path, headers={**headers, "Authorization": f"Bearer {self._token}"}, **kwargs
            )
        if reply.status == 401:
            raise PermanentError(f"{reply.status_line()} (Concourse refused a fresh token)")
        return reply

    # -- reads

    def _read(self, op: Operation, team: str) -> dict[str, Any] | None:
        reply = self._api(op, "GET", f"/api/v1/teams/{team}")
        if reply.status == 404:
            return None
        outcome = status_outcome(reply)
        if outcome is not None:
            raise outcome
        return team_body(reply, reply.json_object())

    def get_team(self, team: str) -> dict[str, Any] | None:
        op = self.operation(team)
        return run(op, lambda: self._read(op, team))

    # -- writes

    def _write(self, op: Operation, team: str, auth: Mapping[str, Any]) -> dict[str, Any]:
        """One PUT, preceded by a read when an earlier attempt may have written: if the team already holds this
        auth, that write landed and another is not needed (nor is it an existing team to refuse)."""
        if op.ambiguous:
            found = self._read(op, team)
            if found is not None and same_auth(found.get("auth"), auth):
                return found
        try:
            reply = self._api(op, "PUT", f"/api/v1/teams/{team}", json={"auth": auth})
            outcome = status_outcome(reply)
            if outcome is not None:
                raise outcome
            body = reply.json_object()
        except RetryableError as error:
            op.ambiguous = op.ambiguous or (error.ambiguous and not error.login)
            if error.pending and not error.login:
                budget = op.deadline.budget
                UNSETTLED.note((self.url, team), op.last_put + budget.connect_timeout + budget.read_timeout)
            raise
        if body.get("errors"):
            raise PermanentError(f"Concourse reported {'; '.join(map(str, body['errors']))}")
        try:
            return team_body(reply, body.get("team"))
        except RetryableError:
            op.ambiguous = True
            raise

    def _confirmed(self, op: Operation, team: str, auth: Mapping[str, Any], written: dict[str, Any]) -> dict[str, Any]:
        """The team as written, once no PUT this process gave up on can still overtake the write (UnsettledWrites):
        wait until each could no longer have been awaited (as far as the budget allows), read the team, and write
        again when it is not what was sent."""
        key = (self.url, team)
        deadline = op.deadline
        clock = deadline.budget.clock
        while (until := UNSETTLED.until(key)) is not None:
            wait = min(until - clock.now(), deadline.remaining() - deadline.budget.min_attempt)
            if wait > 0:
                clock.sleep(wait)
            read_at = clock.now()
            found = self._read(op, team)
            if found is None or not same_auth(found.get("auth"), auth):
                written = self._write(op, team, auth)  # a late PUT overwrote ours: send it again, then read again
                continue
            UNSETTLED.settle(key, read_at)
            if read_at < until:
                return found  # the budget ends first: what is left is the refresh's
            written = found
        return written

    def set_team(self, team: str, auth: Mapping[str, Any]) -> dict[str, Any]:
        """Update (or create) the team in one write: PUT sets the whole auth, so a retry cannot half-write it."""
        op = self.operation(team)
        return run(op, lambda: self._confirmed(op, team, auth, self._write(op, team, auth)))

    def create_team(self, team: str, auth: Mapping[str, Any]) -> dict[str, Any]:
        """Create the team. One that already exists is adopted only when its auth is already this one (for example
        after an earlier `up` created it and then failed); otherwise it is refused, because PUT would silently
        replace auth that someone else set."""
        op = self.operation(team)
        checked = False

        def attempt() -> dict[str, Any]:
            nonlocal checked
            if not checked:
                existing = self._read(op, team)
                checked = True
                if existing is not None:
                    if same_auth(existing.get("auth"), auth):
                        return existing
                    raise PermanentError(existing_team_problem(team, existing.get("auth"), auth))
            return self._confirmed(op, team, auth, self._write(op, team, auth))

        return run(op, attempt)

    def delete_team(self, team: str) -> None:
        """Delete the team; one already gone (404, for example after a retried delete) counts as deleted."""
        op = self.operation(team)

        def attempt() -> None:
            reply = self._api(op, "DELETE", f"/api/v1/teams/{team}")
            if reply.status != 404:
                outcome = status_outcome(reply)
                if outcome is not None:
                    raise outcome

        run(op, attempt)

    # -- pipelines (atc/api/configserver save.go, get.go; atc/api/pipelineserver get.go, unpause.go, delete.go)

    def pipeline_operation(self, team: str, pipeline: str) -> Operation:
        return Operation(f"pipeline {team}/{pipeline}", Deadline(self.budget))

    def _pipeline(self, op: Operation, team: str, pipeline: str) -> dict[str, Any] | None:
        reply = self._api(op, "GET", pipeline_path(team, pipeline))
        if reply.status == 404:
            return None
        outcome = status_outcome(reply)
        if outcome is not None:
            raise outcome
        body = reply.json_object()
        if not isinstance(body.get("name"), str):
            raise RetryableError(f"{reply.status} reply carries no pipeline: {one_line(reply.text())[:EXCERPT]!r}")
        return body

    def get_pipeline(self, team: str, pipeline: str) -> dict[str, Any] | None:
        """The pipeline ({"name", "paused", "archived", ...}), or None when the team has none of that name."""
        op = self.pipeline_operation(team, pipeline)
        return run(op, lambda: self._pipeline(op, team, pipeline))

    def _config_version(self, op: Operation, team: str, pipeline: str) -> str | None:
        """The version the pipeline's config is saved at (None: no such pipeline), which a save must name."""
        reply = self._api(op, "GET", pipeline_path(team, pipeline, "/config"))
        if reply.status == 404:
            return None
        outcome = status_outcome(reply)
        if outcome is not None:
            raise outcome
        version = reply.headers.get(CONFIG_VERSION_HEADER)
        if not version:
            raise RetryableError(f"{reply.status} config reply carries no {CONFIG_VERSION_HEADER} header")
        return version

    def set_pipeline(self, team: str, pipeline: str, config_yaml: str) -> None:
        """Save the pipeline's config (YAML, as `fly set-pipeline` sends it) and unpause it (a new pipeline starts
        paused). Each attempt reads the config's version and saves over exactly that version: Concourse updates only a
        pipeline still at the version named (db.savePipeline; a stale one is a 500 "comparison with existing config
        failed"), so a retry after a save that landed, or a save that lands late, never blindly overwrites a newer
        config; the next attempt reads the version again. Saving the same config twice is harmless."""
        op = self.pipeline_operation(team, pipeline)

        def attempt() -> None:
            headers = {"Content-Type": "application/x-yaml"}
            version = self._config_version(op, team, pipeline)
            if version is not None:
                headers[CONFIG_VERSION_HEADER] = version
            path = pipeline_path(team, pipeline, "/config")
            reply = self._api(op, "PUT", path, headers=headers, data=config_yaml.encode())
            if reply.status == 400:
                raise PermanentError(
                    f"{reply.status} {reply.reason}: Concourse refused the config: {config_errors(reply)}"
                )
            if reply.status == 404:
                raise PermanentError(f"{reply.status_line()} (team {team!r} does not exist)")
            outcome = status_outcome(reply)
            if outcome is not None:
                raise outcome
            outcome = status_outcome(self._api(op, "PUT", pipeline_path(team, pipeline, "/unpause")))
            if outcome is not None:
                raise outcome

        run(op, attempt)

    def delete_pipeline(self, team: str, pipeline: str) -> None:
        """Delete the pipeline with its builds; one already gone (404) counts as deleted."""
        op = self.pipeline_operation(team, pipeline)

        def attempt() -> None:
            reply = self._api(op, "DELETE", pipeline_path(team, pipeline))
            if reply.status != 404:
                outcome = status_outcome(reply)
                if outcome is not None:
                    raise outcome

        run(op, attempt)

    # -- builds (the end-to-end smoke, tools/smoke_e2e.py)
    # Shapes (concourse/concourse v8.1.1 atc/routes.go, atc/api/configserver/save.go, pipelineserver, jobserver
    # create_build.go, buildserver): PUT .../pipelines/<p>/config with a JSON config and the
    # X-Concourse-Config-Version of the current config (GET .../config answers it as that header; none for a new
    # pipeline) answers 201 created / 200 updated with {"warnings"}, 400 with the validation errors, 409 on a stale
    # version; PUT .../unpause 200; POST .../jobs/<j>/builds the build {"id", "name", "status": "pending", ...};
    # GET /api/v1/builds/<id> the build; PUT /api/v1/builds/<id>/abort 204; DELETE .../pipelines/<p> 204 or 404.

    def call(self, subject: str, method: str, path: str, *, retry_ambiguous: bool = True, **kwargs: Any) -> Reply:
        """One API call as an operation of its own budget; a 404 is returned to the caller, other failures retried
        or raised as TeamApiError. `retry_ambiguous` False: a call that may have acted is not sent again (a
        trigger that may have created a build must not create a second one)."""
        op = Operation(subject, Deadline(self.budget))

        def attempt() -> Reply:
            try:
                reply = self._api(op, method, path, **kwargs)
                outcome = status_outcome(reply) if reply.status != 404 else None
            except RetryableError as error:
                if error.ambiguous and not retry_ambiguous:
                    raise PermanentError(f"{error.problem} (it may have acted: not sent again)") from None
                raise
            if outcome is not None:
                if isinstance(outcome, RetryableError) and outcome.ambiguous and not retry_ambiguous:
                    raise PermanentError(f"{outcome.problem} (it may have acted: not sent again)")
                raise outcome
            return reply

        return run(op, attempt)

    def trigger_job(self, team: str, pipeline: str, job: str) -> dict[str, Any]:
        path = f"/api/v1/teams/{team}/pipelines/{pipeline}/jobs/{job}/builds"
        reply = self.call(f"job {team}/{pipeline}/{job}", "POST", path, retry_ambiguous=False)
        if reply.status == 404:
            raise TeamApiError(f"job {team}/{pipeline}/{job}: POST {self.url}{path}: 404: no such job")
        return reply.json_object()

    def get_build(self, build_id: int) -> dict[str, Any]:
        path = f"/api/v1/builds/{build_id}"
        reply = self.call(f"build {build_id}", "GET", path)
        if reply.status == 404:
            raise TeamApiError(f"build {build_id}: GET {self.url}{path}: 404: no such build")
        return reply.json_object()

    def abort_build(self, build_id: int) -> None:
        self.call(f"build {build_id}", "PUT", f"/api/v1/builds/{build_id}/abort")

    def build_events(self, build_id: int, seconds: float) -> Iterator[dict[str, Any]]:
        """The build's events (Concourse's envelopes {"event", "version", "data"}) until its `end` event, within
        `seconds`. The stream is Server-Sent Events (atc/api/buildserver/eventhandler.go: `id: N`, `event: event` or
        `event: end`, `data: <envelope>`); a stream cut off (a reset, a read timeout through the load balancer)
        reconnects with Last-Event-ID, after a jittered backoff, so no event is read twice or lost."""
        deadline = Deadline(replace(self.budget, seconds=seconds))
        op = Operation(f"build {build_id} events", deadline)
        path = f"/api/v1/builds/{build_id}/events"
        last_id: str | None = None
        failures = 0
        while True:
            if deadline.remaining() < self.budget.min_attempt:
                raise op.fail("the build's events did not reach their end within the deadline")
            if self._token is None:
                self._token = self._login(op)
            headers = {"Authorization": f"Bearer {self._token}", "Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            op.last_call = f"GET {self.url}{path}"
            op.attempts += 1
            timeout = (self.budget.connect_timeout, min(self.budget.read_timeout, deadline.remaining()))
            try:
                with self.session.get(self.url + path, headers=headers, timeout=timeout, stream=True) as response:
                    if response.status_code == 401 and not self._fresh_login_used:
                        self._fresh_login_used = True
                        self._token = None
                        continue
                    if response.status_code != 200:
                        reply = Reply(response.status_code, response.reason or "", response.headers, response.content)
                        outcome = status_outcome(reply) or PermanentError(reply.status_line())
                        raise outcome
                    for event_id, name, data in sse_events(response.iter_lines(decode_unicode=True)):
                        failures = 0
                        last_id = event_id or last_id
                        if name == "end":
                            return
                        if name == "event" and data:
                            yield json.loads(data)
                        if deadline.remaining() <= 0:
                            raise op.fail("the build's events did not reach their end within the deadline")
            except PermanentError as error:
                raise op.fail(error.problem) from None
            except (RetryableError, requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as error:
                failures += 1
                problem = error.problem if isinstance(error, RetryableError) else f"{type(error).__name__}: {error}"
                op.last_call = f"GET {self.url}{path} ({one_line(problem)[:EXCERPT]})"
                wait = random.uniform(0, min(self.budget.max_wait, self.budget.first_wait * 2**failures))
                deadline.budget.clock.sleep(max(0.0, min(wait, deadline.remaining() - self.budget.min_attempt)))


CONFIG_VERSION_HEADER = "X-Concourse-Config-Version"
"""atc.ConfigVersionHeader: GET .../config answers the saved version in it; PUT .../config names the version it
replaces."""


def pipeline_path(team: str, pipeline: str, tail: str = "") -> str:
    return f"/api/v1/teams/{team}/pipelines/{pipeline}{tail}"


def config_errors(reply: Reply) -> str:
    """The errors of a refused config (atc.SaveConfigResponse {"errors": [...], "warnings": [...]}), on one line."""
    try:
        errors = reply.json_object().get("errors")
    except RetryableError:
        errors = None
    if isinstance(errors, list) and errors:
        return one_line("; ".join(map(str, errors)))
    return repr(one_line(reply.text())[:EXCERPT])


def team_body(reply: Reply, value: Any) -> dict[str, Any]:
    """The team object of a reply, checked: `{}` or a missing field is a malformed reply, not a team."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not isinstance(value.get("auth"), dict):
        raise RetryableError(
            f"{reply.status} reply carries no team (name and auth): {one_line(reply.text())[:EXCERPT]!r}",
            ambiguous=True,
        )
    return value


def normalized_auth(auth: Any) -> dict[str, dict[str, list[str]]] | None:
    """Auth in a canonical form for comparison (sorted members, empty roles dropped); None when not a mapping."""
    if not isinstance(auth, Mapping):
        return None
    result: dict[str, dict[str, list[str]]] = {}
    for role, members in auth.items():
        if not isinstance(members, Mapping):
            return None
        users = sorted(members.get("users") or [])
        groups = sorted(members.get("groups") or [])
        if users or groups:
            result[str(role)] = {"users": users, "groups": groups}
    return result


def same_auth(found: Any, wanted: Mapping[str, Any]) -> bool:
    return normalized_auth(found) == normalized_auth(wanted)


def existing_team_problem(team: str, found: Any, wanted: Mapping[str, Any]) -> str:
    return (
        f"team {team!r} already exists in Concourse with other auth ({json.dumps(found, sort_keys=True)}; this stack "
        f"sets {json.dumps(dict(wanted), sort_keys=True)}); refusing to take it over. Pulumi cannot import a dynamic "
        "provider's resource (pulumi/pulumi#16175): either give the team this stack's auth with `fly set-team` so "
        "the next `up` adopts it, or remove it with `fly destroy-team` so `up` creates it, or rename the stack's team"
    )


# ---------------------------------------------------------------------------------------------------------------------
# The certificate wait


def wait_for_api(url: str, budget: Budget) -> dict[str, Any]:
    """Wait until Concourse answers `GET /api/v1/info` over TLS with a certificate that verifies: DNS, the load
    balancer, Traefik's route, cert-manager's certificate and web are all there. Until the certificate is issued
    Traefik presents its own self-signed default certificate (and answers 404 until it has loaded the route); both are
    waited out here, and only here. Any other certificate failure (an untrusted CA, an expired certificate) fails at
    once, as it does for the teams."""
    op = Operation("Concourse API (every team waits for it)", Deadline(budget))
    session = requests.Session()
    info_url = url.rstrip("/") + "/api/v1/info"
    op.last_call = f"GET {info_url}"

    def attempt() -> dict[str, Any]:
        try:
            reply = exchange(session, op.deadline, "GET", info_url)
        except PermanentError as error:
            if error.verify_code in PLACEHOLDER_CERT_CODES:
                raise RetryableError(
                    f"the host does not present its own certificate yet ({error.verify_message}, code "
                    f"{error.verify_code}): Traefik's default until cert-manager has issued it"
                ) from None
            raise
        if reply.status == 404:
            raise RetryableError(f"{reply.status_line()} [no route to Concourse yet]")
        outcome = status_outcome(reply)
        if outcome is not None:
            raise outcome
        return reply.json_object()

    try:
        return run(op, attempt)
    finally:
        session.close()


def sse_events(lines: Iterator[str | bytes]) -> Iterator[tuple[str | None, str, str]]:
    """(id, event name, data) of each Server-Sent Event in a stream of lines (WHATWG HTML "server-sent events":
    fields until a blank line; several data lines join with newlines; the event name defaults to `message`)."""
    event_id: str | None = None
    name = ""
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        if not line:
            if name or data:
                yield event_id, name or "message", "\n".join(data)
            name, data = "", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            event_id = value
        elif field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if name or data:
        yield event_id, name or "message", "\n".join(data)
