#!/usr/bin/env python3
"""Creates tasks at a steady rate (not as fast as possible, unlike wrk) for scripts/bench.sh,
so the outbox's commit-to-acknowledgement time can be measured at a given event rate.

  steady.py URL USERS_FILE RATE SECONDS

USERS_FILE has "user_id token" per line. Prints one line: sent, ok, achieved rate."""

import http.client
import sys
import threading
import time
from urllib.parse import urlsplit

WORKERS = 16


def main():
    url, users_file, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    users = [line.split()[:2] for line in open(users_file) if line.strip()]
    host = urlsplit(url)
    start = time.monotonic()
    total = int(rate * seconds)
    counts = {"sent": 0, "ok": 0}
    lock = threading.Lock()
    next_slot = [0]

    def worker():
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
        while True:
            with lock:
                i = next_slot[0]
                next_slot[0] += 1
            if i >= total:
                return
            due = start + i / rate          # the i-th request's moment on the schedule
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            uid, token = users[i % len(users)]
            conn.request("POST", f"/api/{uid}/tasks", b'{"title":"steady"}',
                         {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            with lock:
                counts["sent"] += 1
                counts["ok"] += r.status == 201

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    print(f"sent={counts['sent']} ok={counts['ok']} rate={counts['sent'] / elapsed:.0f}/s")


if __name__ == "__main__":
    main()
