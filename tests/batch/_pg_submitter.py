"""One submitter process of test_pgjournal's two-process run (not a test module).

``python _pg_submitter.py JOURNAL_URL PROFILE``: opens the shared PostgreSQL journal and a
client, prints ``ready``, waits for ``go`` on stdin (so that both processes start sending
together), sends until nothing is due, and prints a JSON summary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gateway.batch import SubmitOptions, submit_batch
from gateway.batch.run import open_journal
from gateway.config import load_profile, open_client


def main(url: str, profile_path: str) -> int:
    journal = open_journal(url)
    try:
        with open_client(load_profile(Path(profile_path), environ={}), environ={}) as client:
            print("ready", flush=True)
            if sys.stdin.readline().strip() != "go":
                return 2
            summary = submit_batch(journal, client, SubmitOptions(concurrency=4))
    finally:
        journal.close()
    print(json.dumps({"attempts": summary.attempts, "counts": summary.counts}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
