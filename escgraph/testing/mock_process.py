"""A :class:`~escgraph.testing.MockOpenAIServer` in a child process, for benches: its HTTP work then does not
compete with the runner for this process's GIL, as a real server's would not."""

from __future__ import annotations

import multiprocessing
from typing import Any

__all__ = ["MockServerProcess"]


def _serve(options: dict[str, Any], conn: Any) -> None:
    from escgraph.testing.mock_openai import MockOpenAIServer

    with MockOpenAIServer(**options) as server:
        conn.send(server.base_url)
        while conn.recv() != "stop":  # anything else: report the counters
            conn.send({"requests": server.requests, "max_in_flight": server.max_in_flight,
                       "max_active": getattr(server, "max_active", None)})


class MockServerProcess:
    """``MockServerProcess(delay=0.2, capacity=8)``: the mock's options, served from a spawned process."""

    def __init__(self, **options: Any) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=_serve, args=(options, child),
                                                                      daemon=True)
        self.process.start()
        if not self.conn.poll(60):  # the child died or hangs: fail instead of waiting forever
            self.process.kill()
            raise RuntimeError("the mock server process did not start")
        self.base_url: str = self.conn.recv()

    def stats(self) -> dict[str, Any]:
        self.conn.send("stats")
        return self.conn.recv()

    def stop(self) -> None:
        try:
            self.conn.send("stop")
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()

    def __enter__(self) -> "MockServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
