"""Rate limits: the limiter's arithmetic on a fake clock, then each limit against the live stack
with small settings (429, Retry-After, which limit; the neighbours of a runaway loop unharmed)."""

from __future__ import annotations

import time
import uuid

import pytest

from crontopus_gateway import ratelimit
from crontopus_gateway.ratelimit import RateLimiter
from crontopus_server.testing import create_api_key, sign_up, wait_until

JOB, OTHER_JOB = "staging/hello", "production/backup-database"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def allowed(limiter: RateLimiter, key: str, now: float) -> bool:
    if limiter.wait(key, now):
        return False
    limiter.take(key, now)
    return True


# --- the limiter ----------------------------------------------------------------------------------


def test_a_burst_passes_at_once_then_the_wait_is_one_interval():
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [allowed(limiter, "k", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.wait("k", 0.0) == pytest.approx(1.0)
    assert allowed(limiter, "other", 0.0), "keys are independent"


def test_the_bucket_refills_at_the_sustained_rate():
    limiter = RateLimiter(per_minute=120, burst=2)  # one every half second
    assert [allowed(limiter, "k", 0.0) for _ in range(3)] == [True, True, False]
    assert allowed(limiter, "k", 0.5) and not allowed(limiter, "k", 0.5)
    assert [allowed(limiter, "k", 10.0) for _ in range(3)] == [True, True, False], "a full bucket, no more"


def test_a_busy_teams_minute_stays_under_the_defaults():
    """2,000 jobs, each a start and a finish at the top of every minute, through one address and
    one key: 4,000 requests within a second, for ten minutes."""
    limiter = RateLimiter(per_minute=12_000, burst=10_000)
    for minute in range(10):
        assert all(allowed(limiter, "nat", minute * 60 + i / 4000) for i in range(4000))


def test_zero_is_no_limit():
    limiter = RateLimiter(per_minute=0, burst=1)
    assert all(allowed(limiter, "k", 0.0) for _ in range(1000)) and len(limiter) == 0


def test_random_keys_cannot_grow_memory_past_the_bound_and_the_busiest_key_stays():
    limiter = RateLimiter(per_minute=60, burst=2, sets=25)  # 100 keys
    passed = 0
    for i in range(10_000):  # ten seconds of a loop at 1,000 a second, and as many random keys
        passed += allowed(limiter, "loop", i / 1000)
        allowed(limiter, str(uuid.uuid4()), i / 1000)
    assert len(limiter) == 100
    assert passed == 2 + 9, "the burst, then one a second: the refused loop was never dropped and refilled"


def test_processes_sharing_the_counters_allow_the_rate_once_between_them():
    counters = ratelimit.Counters.create(shared=True, sets=64)
    first, second = (RateLimiter(per_minute=60, burst=3, words=counters.ping_url, secret=counters.secret)
                     for _ in range(2))  # fmt: skip
    assert [allowed(limiter, "k", 0.0) for limiter in (first, second, first, second)] == [True, True, True, False]
    assert second.wait("k", 0.0) == pytest.approx(1.0) and first.wait("k", 0.0) == pytest.approx(1.0)
    assert allowed(second, "k", 1.0)


# --- against the live stack -----------------------------------------------------------------------

SMALL = {
    "CRONTOPUS_GATEWAY_RATE_LIMIT_PING_URL": 60, "CRONTOPUS_GATEWAY_RATE_LIMIT_PING_URL_BURST": 5,
    "CRONTOPUS_GATEWAY_RATE_LIMIT_CREDENTIAL": 60, "CRONTOPUS_GATEWAY_RATE_LIMIT_CREDENTIAL_BURST": 5,
    "CRONTOPUS_GATEWAY_RATE_LIMIT_ADDRESS": 60, "CRONTOPUS_GATEWAY_RATE_LIMIT_ADDRESS_BURST": 40,
}  # fmt: skip


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


@pytest.fixture
def stack_env(stack_env, request):
    return {**stack_env, **SMALL, **getattr(request, "param", {})}


@pytest.fixture
def alice(api):
    return sign_up(api, "alice")


def ping_urls(api, account) -> dict[str, str]:
    return {job["job"]: job["ping_url"] for job in api.get("/api/jobs", headers=account.headers).json()["jobs"]}


def runs(api, account, job: str) -> list[dict]:
    return api.get("/api/runs", headers=account.headers, params={"job": job}).json()["runs"]


def assert_throttled(response, limit: str) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["detail"].startswith(f"rate limit per {limit}: too many requests")
    assert 1 <= int(response.headers["Retry-After"]) <= 2
    assert response.headers["x-content-type-options"] == "nosniff" and response.headers["x-correlation-id"]


def test_a_runaway_loop_on_one_ping_url_is_429_after_a_burst_and_the_teams_other_pings_work(api, alice):
    urls = ping_urls(api, alice)
    statuses = [api.get(urls[JOB]).status_code for _ in range(30)]
    assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}
    assert_throttled(api.post(f"{urls[JOB]}/fail", content=b"x"), "ping URL")
    assert api.get(urls[OTHER_JOB]).status_code == 200, "another job of the team, same address"
    wait_until(lambda: len(runs(api, alice, JOB)) == 5)
    time.sleep(0.3)
    assert len(runs(api, alice, JOB)) == 5, "the refused pings never reached the history"


def test_a_refused_ping_may_retry_after_the_time_it_was_told(api, alice):
    url = ping_urls(api, alice)[JOB]
    response = [api.get(url) for _ in range(6)][-1]
    assert response.status_code == 429
    time.sleep(int(response.headers["Retry-After"]))
    assert api.get(url).status_code == 200


def test_one_api_key_is_limited_without_using_up_its_address(api, alice):
    loop, other = {"X-Api-Key": create_api_key(api, alice, "read")}, {"X-Api-Key": create_api_key(api, alice, "read")}
    statuses = [api.get("/api/runs", headers=loop).status_code for _ in range(45)]
    assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}
    assert_throttled(api.get("/api/runs", headers=loop), "credential")
    same_key_as_bearer = api.get("/api/runs", headers={"Authorization": f"Bearer {loop['X-Api-Key']}"})
    assert same_key_as_bearer.status_code == 429
    assert api.get("/api/runs", headers=other).status_code == 200, "the 40 refused did not drain the address"
    assert api.get("/api/runs", headers=alice.headers).status_code == 200, "a user's own sign-in"


def test_one_address_is_limited_whatever_keys_it_uses(api):
    started = time.monotonic()
    statuses = [api.get(f"/ping/{uuid.uuid4().hex[:22]}").status_code for _ in range(45)]
    refills = int(time.monotonic() - started) + 1  # one a second: a loaded machine may take a few
    assert statuses[:40] == [404] * 40 and set(statuses[40:]) <= {404, 429}
    assert statuses[40:].count(404) <= refills, "beyond the burst, only what refilled meanwhile"
    assert_throttled(api.get("/api/auth/jwks.json"), "address")
    assert api.get("/health").status_code == 200, "only /api/ and ping URLs are limited"


@pytest.mark.parametrize("stack_env", [{"CRONTOPUS_GATEWAY_TRUSTED_PROXIES": '["127.0.0.1"]'}], indirect=True)
def test_behind_a_trusted_proxy_each_client_address_has_its_own_limit(api):
    def from_address(address: str) -> int:
        return api.get("/api/auth/jwks.json", headers={"X-Forwarded-For": address}).status_code

    assert {from_address("203.0.113.1") for _ in range(45)} == {200, 429}
    assert from_address("203.0.113.2") == 200
