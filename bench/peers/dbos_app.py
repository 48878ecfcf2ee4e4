"""DBOS Transact, as ``bench/sagas_throughput.py`` runs it: a three-step workflow (the steps
of ``peers/sagas_app.py``'s ``three``), started in-process the way a DBOS user starts one
(``DBOS.start_workflow`` in their own code: no HTTP hop, an advantage DBOS gets here), with
the SQLite system database ``BENCH_DBOS_DB`` names (DBOS's defaults for SQLite).

Driven one JSON line at a time on stdin, one JSON answer per line on stdout:

- ``{"op": "latency", "id": ID}``: start workflow ``ID``, wait for its result; answers
  ``{"started": t, "completed": t}`` (wall-clock times just before the start call and when
  the result was back);
- ``{"op": "burst", "ids": [...], "callers": C}``: start them from ``C`` threads as fast as
  they go, wait for every result; answers ``{"first": t, "triggered": t, "last": t}``.

Completion is when ``get_result()`` returns: on Python 3.11 DBOS stamps ``workflow_status``
with whole seconds, too coarse to read it from there.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

from dbos import DBOS, SetWorkflowID, WorkflowHandle

DBOS(
    config={
        "name": "bench-sagas",
        "system_database_url": f"sqlite:///{os.environ['BENCH_DBOS_DB']}",
        "run_admin_server": False,
    }
)


@DBOS.step()
def reserve(n: int) -> dict[str, Any]:
    return {"reserved": n}


@DBOS.step()
def charge(state: dict[str, Any]) -> dict[str, Any]:
    return {"charged": state["reserved"]}


@DBOS.step()
def ship(state: dict[str, Any]) -> dict[str, Any]:
    return {"shipped": state["charged"]}


@DBOS.workflow()
def three(n: int) -> dict[str, Any]:
    state: dict[str, Any] = {}
    state.update(reserve(n))
    state.update(charge(state))
    state.update(ship(state))
    return state


def start(workflow_id: str) -> WorkflowHandle[dict[str, Any]]:
    with SetWorkflowID(workflow_id):
        return DBOS.start_workflow(three, 1)


def burst(ids: list[str], callers: int) -> dict[str, float]:
    handles: list[WorkflowHandle[dict[str, Any]]] = []
    lock = threading.Lock()
    left = iter(ids)

    def caller() -> None:
        while True:
            with lock:
                workflow_id = next(left, None)
            if workflow_id is None:
                return
            handle = start(workflow_id)
            with lock:
                handles.append(handle)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    first = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    triggered = time.time()
    for handle in handles:
        handle.get_result()
    return {"first": first, "triggered": triggered, "last": time.time()}


def main() -> None:
    DBOS.launch()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "latency":
            started = time.time()
            start(command["id"]).get_result()
            answer: dict[str, Any] = {"started": started, "completed": time.time()}
        elif command["op"] == "burst":
            answer = burst(command["ids"], command["callers"])
        else:
            answer = {"error": f"unknown op {command['op']!r}"}
        print(json.dumps(answer), flush=True)
    DBOS.destroy()


if __name__ == "__main__":
    main()
