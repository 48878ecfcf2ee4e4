"""``netscript workers jobs | run JOB | executions | show ID | cancel ID | retry ID``.

The service is found as the client finds it (``--url``, else the running app's ``workers``
resource, else ``WORKERS_URL`` / ``services__workers__http__0``, else :8091); ``run --wait``
follows the running app's streams.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="workers_command", metavar="COMMAND")
    commands.add_parser("jobs", help="the registered jobs and their executions by status")
    run = commands.add_parser("run", help="trigger a job")
    run.add_argument("job")
    run.add_argument("--payload", default="null", help="the payload, as JSON")
    run.add_argument("--key", help="an idempotency key")
    run.add_argument("--priority", type=int)
    run.add_argument("--delay", type=float, default=0.0, help="seconds before it may run")
    run.add_argument("--wait", action="store_true", help="wait until it ends; its result")
    run.add_argument("--timeout", type=float, default=300.0, help="--wait: seconds at most")
    executions = commands.add_parser("executions", help="the latest executions")
    executions.add_argument("--status")
    executions.add_argument("--job")
    executions.add_argument("--limit", type=int, default=20)
    for name, text in (
        ("show", "one execution and its attempts"),
        ("cancel", "cancel one"),
        ("retry", "run a failed, timed-out or cancelled one again"),
    ):
        commands.add_parser(name, help=text).add_argument("id")
    for sub in commands.choices.values():
        sub.add_argument("--url", help="the workers service (default: the running app's)")
        sub.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    if args.workers_command is None:
        print("usage: netscript workers {jobs,run,executions,show,cancel,retry} ... (--help)")
        return 2
    from netscript import run_client_command

    from .client import WorkersClient

    return run_client_command(args, service="workers", make_client=WorkersClient, command=_command)


async def _command(client: Any, args: argparse.Namespace) -> int:
    from netscript import print_result

    command = args.workers_command
    if command == "jobs":
        jobs = await client.jobs()
        print_result(args, jobs, lambda: _table_jobs(jobs))
    elif command == "run":
        from netscript import json_argument

        payload = json_argument("payload", args.payload)
        started = await client.trigger(
            args.job, payload, idempotency_key=args.key, priority=args.priority, delay=args.delay
        )
        if not args.wait:
            again = " (deduplicated)" if started["deduplicated"] else ""
            line = f"{started['executionId']} {started['status']}{again}"
            print_result(args, started, lambda: print(line))
            return 0
        done = await client.wait(started["executionId"], args.timeout)
        outcome = json.dumps(done.get("result") if done["status"] == "completed" else done["error"])
        print_result(args, done, lambda: print(f"{done['id']} {done['status']}: {outcome}"))
        return 0 if done["status"] == "completed" else 1
    elif command == "executions":
        page = await client.executions(status=args.status, job=args.job, limit=args.limit)
        print_result(args, page, lambda: _table_executions(page["executions"]))
    elif command == "show":
        found = await client.get(args.id)
        print_result(args, found, lambda: print(json.dumps(found, indent=2)))
    else:
        changed = await (client.cancel if command == "cancel" else client.retry)(args.id)
        print_result(args, changed, lambda: print(f"{changed['id']} {changed['status']}"))
    return 0


def _table_jobs(jobs: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table("job", "retries", "timeout", "concurrency", "priority", "by status", "plugin")
    for job in jobs:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(job["counts"].items())) or "-"
        out.add_row(
            job["name"],
            str(job["retries"]),
            f"{job['timeout']:g}s",
            str(job["concurrency"] or "-"),
            str(job["priority"]),
            counts,
            job["plugin"],
        )
    Console().print(out)


def _table_executions(executions: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table("id", "job", "status", "attempt", "triggered", "duration", "error")
    for e in executions:
        duration = f"{e['duration']} ms" if e["duration"] is not None else ""
        out.add_row(
            e["id"],
            e["jobId"],
            e["status"],
            f"{e['attempt']}/{e['maxAttempts']}",
            e["triggeredAt"] or "",
            duration,
            (e["error"] or "")[:60],
        )
    Console().print(out)
