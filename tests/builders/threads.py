"""Calls released at the same moment from several threads, each on its own connection
(races on PostgreSQL)."""

import threading

from django.db import connection


def together(function, count: int = 6) -> list:
    """Call function from `count` threads released at the same moment."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = function()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
