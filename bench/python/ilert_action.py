"""The Python baseline of the benchmark: ilert's Trigger Alert written the way Sekoia.io
modules are, as a ``sekoia_automation.action.Action`` subclass using ``requests`` with
urllib3 ``Retry``. It reads the alert from the Sekoia.io API, then posts it to ilert's
Sekoia.io endpoint.

Usage:
  ilert_action.py oneshot CONFIG_JSON ALERT_UUID
      one action run, as one process (what a one-shot invocation costs)
  ilert_action.py loop CONFIG_JSON UUID_FILE
      ``run()`` once per alert uuid of the file (one a line), in this one process; prints
      {"runs": n, "failures": f, "seconds": s} on stdout

CONFIG_JSON is {"sekoia_url", "api_key", "ilert_url", "integration_key"}.
"""

import json
import sys
import time

import requests
from requests.adapters import HTTPAdapter
from sekoia_automation.action import Action
from sekoia_automation.module import Module
from urllib3.util.retry import Retry

TIMEOUT_SECONDS = 30


def session_with_retries() -> requests.Session:
    """A session retrying network errors, 429 and 5xx with exponential backoff."""
    retry = Retry(
        total=5,
        backoff_factor=1,
        status_forcelist=[429, 500, 502, 503, 504],
        allowed_methods=["GET", "POST"],
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def forwarded_status(alert: dict) -> str:
    """The alert's status name in lower case, as ilert's Sekoia.io endpoint expects it."""
    status = alert.get("status")
    name = status.get("name") if isinstance(status, dict) else status
    name = (name or "").strip().lower()
    if not name:
        return "open"
    return "closed" if name == "rejected" else name


class TriggerAlert(Action):
    """Reads a Sekoia.io alert and sends it to ilert."""

    def run(self, arguments: dict) -> dict:
        config = self.module.configuration
        session = session_with_retries()
        base_url = arguments["base_url"].rstrip("/")
        response = session.get(
            f"{base_url}/v1/sic/alerts/{arguments['alert_uuid']}",
            headers={"Authorization": f"Bearer {arguments['api_key']}"},
            timeout=TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        alert = response.json()
        alert["status"] = forwarded_status(alert)
        response = session.post(
            f"{config['integration_url'].rstrip('/')}/{config['integration_key']}",
            json=alert,
            timeout=TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        return alert


def make_action(settings: dict) -> TriggerAlert:
    module = Module()
    # Set directly: the manifest that the configuration setter checks against is not
    # part of this baseline.
    module._configuration = {
        "integration_url": settings["ilert_url"],
        "integration_key": settings["integration_key"],
    }
    return TriggerAlert(module=module)


def arguments(settings: dict, alert_uuid: str) -> dict:
    return {
        "alert_uuid": alert_uuid,
        "api_key": settings["api_key"],
        "base_url": settings["sekoia_url"],
    }


def oneshot(settings: dict, alert_uuid: str) -> int:
    action = make_action(settings)
    results = action.run(arguments(settings, alert_uuid))
    json.dump(results, sys.stdout)
    return 0


def loop(settings: dict, uuid_file: str) -> int:
    with open(uuid_file, encoding="utf-8") as handle:
        uuids = [line.strip() for line in handle if line.strip()]
    action = make_action(settings)
    failures = 0
    started = time.perf_counter()
    for alert_uuid in uuids:
        try:
            action.run(arguments(settings, alert_uuid))
        except Exception:  # noqa: BLE001 - counted, the loop goes on
            failures += 1
    seconds = time.perf_counter() - started
    json.dump({"runs": len(uuids), "failures": failures, "seconds": seconds}, sys.stdout)
    return 0


def main(argv: list) -> int:
    if len(argv) != 4 or argv[1] not in ("oneshot", "loop"):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[2], encoding="utf-8") as handle:
        settings = json.load(handle)
    if argv[1] == "oneshot":
        return oneshot(settings, argv[3])
    return loop(settings, argv[3])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
