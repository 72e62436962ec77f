"""Runtime auth benchmark: `/api/runtime/auth/` against the trivial `/api/runtime/ping/` on the same server.

    DATABASE_URL=postgres://.../cmp_bench REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/runtime_auth.py

Seeds a buyer config and a fresh key in DATABASE_URL, starts gunicorn itself (2 sync workers, DEBUG off,
the same DATABASE_URL, and REDIS_URL when set) unless `--base-url` names a running server (then give its
`--token`). Both endpoints carry the same runtime credential and go through the same stack; the auth call
adds the key check (checksum, SHA-256, a near-cache read: no round trip once the key was seen, see
`cmp.cache.NearCache`) and a bigger JSON body.

1. Peak: closed-loop load (`--clients` processes x `--threads` threads, each one request after another) for
   `--duration` seconds per endpoint, ping then auth, `--rounds` times: requests/s, p50, p99, the ratio
   auth/ping of each round and their median. Goal >= 0.8.
2. Half of the auth peak, paced (open loop): p50/p99 of the auth call. Goal p99 <= 10 ms.

Load goes to 127.0.0.1 only, bounded by the duration. Exit code non-zero if any request failed.
"""

import argparse
import logging
import secrets
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import httpx
from runtime_common import Server, check_local, django_setup, percentile, seed_configs

GOAL_RATIO = 0.8
GOAL_P99_MS = 10.0


def _thread_load(
    base_url: str,
    path: str,
    method: str,
    body: dict | None,
    headers: dict,
    until: float,
    interval: float | None,
    start_at: float,
) -> tuple[list[float], int]:
    """One thread: requests one after another (interval None) or one every `interval` seconds."""
    latencies: list[float] = []
    failures = 0
    next_at = start_at
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        while True:
            if interval is not None:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                next_at += interval
            started = time.perf_counter()
            if started >= until:
                break
            try:
                response = client.request(method, path, json=body)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            failures += not ok
    return latencies, failures


def _process_load(args: tuple) -> tuple[list[float], int]:
    base_url, path, method, body, headers, threads, duration, rate = args
    begin = time.perf_counter() + 0.05
    until = begin + duration
    interval = threads / rate if rate else None
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [
            pool.submit(
                _thread_load,
                base_url,
                path,
                method,
                body,
                headers,
                until,
                interval,
                begin + (interval or 0) * index / threads,
            )
            for index in range(threads)
        ]
        results = [future.result() for future in futures]
    return [value for latencies, _ in results for value in latencies], sum(
        failures for _, failures in results
    )


def load(*, base_url, path, method, body, headers, clients, threads, duration, rate=None) -> dict:
    """Run the load; `rate` (requests/s in total) paces it, else every thread goes as fast as it can."""
    per_process_rate = rate / clients if rate else None
    job = (base_url, path, method, body, headers, threads, duration, per_process_rate)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(_process_load, [job] * clients))
    wall = time.perf_counter() - started - 0.05
    latencies = sorted(value for values, _ in results for value in values)
    return {
        "requests": len(latencies),
        "failures": sum(failures for _, failures in results),
        "rps": len(latencies) / min(wall, duration + 0.5),
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": latencies[-1] if latencies else float("nan"),
    }


def line(name: str, result: dict) -> str:
    return (
        f"{name:<28}{result['requests']:>9}{result['rps']:>10.0f}{result['p50']:>9.2f}{result['p99']:>9.2f}"
        f"{result['max']:>9.1f}{result['failures']:>9}"
    )


def main() -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", help="a running server (127.0.0.1) instead of starting gunicorn")
    parser.add_argument("--token", help="RUNTIME_SERVICE_TOKEN of the server given by --base-url")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (max 60)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating ping/auth peak measurements")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per client process")
    args = parser.parse_args()
    args.duration = min(args.duration, 60.0)
    if args.base_url and not args.token:
        parser.error("--base-url needs --token (the server's RUNTIME_SERVICE_TOKEN)")

    django_setup()
    from django.utils import timezone

    from site_agent.models import ApiKey
    from site_agent.services.api_keys import api_key_create

    (config,) = seed_configs(1)
    ApiKey.objects.filter(config=config, revoked_at__isnull=True).update(revoked_at=timezone.now())
    _api_key, plaintext = api_key_create(config=config, name="bench", actor=None)

    token = args.token or secrets.token_urlsafe(32)
    server = None
    if args.base_url:
        base_url = args.base_url.rstrip("/")
    else:
        server = Server(token=token)
        base_url = server.base_url
    check_local(base_url)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        if server:
            server.wait_ready("/api/runtime/ping/", headers)
        check = httpx.post(f"{base_url}/api/runtime/auth/", json={"api_key": plaintext}, headers=headers)
        if check.status_code != 200 or check.json().get("config_uuid") != str(config.uuid):
            raise SystemExit(
                f"The auth endpoint does not accept the bench key: {check.status_code} {check.text}"
            )

        common = {"base_url": base_url, "headers": headers, "clients": args.clients, "threads": args.threads}
        ping = {"path": "/api/runtime/ping/", "method": "GET", "body": None}
        auth = {"path": "/api/runtime/auth/", "method": "POST", "body": {"api_key": plaintext}}
        load(**common, **ping, duration=2)  # warm-up: workers import, connect, fill the cache
        load(**common, **auth, duration=2)
        # Peaks in alternating pairs: the machine's other work drifts over a run, so each ratio compares two
        # measurements taken back to back, and the median ratio is reported.
        peaks = [
            (load(**common, **ping, duration=args.duration), load(**common, **auth, duration=args.duration))
            for _round in range(args.rounds)
        ]
        ping_peak, auth_peak = sorted(peaks, key=lambda pair: pair[1]["rps"] / pair[0]["rps"])[
            len(peaks) // 2
        ]
        half = load(**common, **auth, duration=args.duration, rate=auth_peak["rps"] / 2)
        ping_half = load(**common, **ping, duration=args.duration, rate=auth_peak["rps"] / 2)
    finally:
        if server:
            server.stop()

    print(
        f"\nServer {base_url} ({'gunicorn, 2 sync workers' if server else 'given'}); load: "
        f"{args.clients} processes x {args.threads} threads, {args.duration:.0f} s per row.\n"
    )
    print(f"{'':<28}{'requests':>9}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'failed':>9}")
    for number, (round_ping, round_auth) in enumerate(peaks, start=1):
        print(line(f"ping, peak (round {number})", round_ping))
        print(
            line(f"auth, peak (round {number})", round_auth)
            + f"  ratio {round_auth['rps'] / round_ping['rps']:.2f}"
        )
    print(line(f"auth at {auth_peak['rps'] / 2:.0f} req/s (half)", half))
    print(line(f"ping at {auth_peak['rps'] / 2:.0f} req/s (half)", ping_half))
    ratio = auth_peak["rps"] / ping_peak["rps"]
    print(
        f"\nThroughput ratio auth/ping, median of {args.rounds} rounds: {ratio:.2f} "
        f"(goal >= {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'MISSED'})"
    )
    print(
        f"p99 of auth at half load: {half['p99']:.2f} ms "
        f"(goal <= {GOAL_P99_MS:.0f} ms: {'met' if half['p99'] <= GOAL_P99_MS else 'MISSED'})"
    )
    failed = (
        sum(result["failures"] for pair in peaks for result in pair)
        + half["failures"]
        + ping_half["failures"]
    )
    if failed:
        print(f"{failed} requests failed")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
