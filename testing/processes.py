"""The processes a test driver or benchmark starts: each in its own session (so its children go
with it) with its output in <work>/<name>.log, all stopped by PID at the end: SIGTERM, then
SIGKILL for what is still running 5 s later."""
import os
import signal
import subprocess
import time


class ProcessGroup:
    def __init__(self, work):
        self.work = work
        self.processes = []  # (name, Popen), in start order

    def start(self, name, argv):
        log = open(os.path.join(self.work, f"{name}.log"), "wb")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        self.processes.append((name, process))
        return process

    def stop(self):
        for _, process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 5
        for _, process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log(self, name):
        with open(os.path.join(self.work, f"{name}.log"), errors="replace") as f:
            return f.read()

    def logs(self, tail=3000):
        """The end of every process's log, for a failure report."""
        return "\n".join(f"--- {name} ---\n{self.log(name)[-tail:]}" for name, _ in self.processes)


def wait_for(what, check, timeout, error=RuntimeError, interval=0.05):
    """Polls `check` until it returns true; an exception from it counts as "not yet" (a port
    not open, a file not written). After `timeout` seconds, raises `error` naming `what` and the
    last exception seen."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception as exception:  # not up yet
            last = exception
        time.sleep(interval)
    raise error(f"timed out waiting for {what} ({last})")
