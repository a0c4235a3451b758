#!/usr/bin/python3
"""A fork bomb bounded to 10 seconds, for the pids-limit case (SANDBOX-TESTS.md 19).

Every process keeps forking until the deadline; a failing fork (EAGAIN at the pids limit) is counted, not fatal. At
the deadline every process exits; only the first one prints {"forks": N, "fork_errors": {errno: count}}.
The soft RLIMIT_NPROC below is only a safety net so that a launcher that ignores --pids cannot exhaust the test host;
it is far above the 64 the test asks the sandbox for, so it is not what stops a correct sandbox's bomb.
"""

import json
import os
import resource
import signal
import sys
import time

signal.pthread_sigmask(signal.SIG_UNBLOCK, set(signal.Signals))
resource.setrlimit(resource.RLIMIT_NPROC, (512, 512))
seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
first = os.getpid()
deadline = time.monotonic() + seconds
forks = 0
errors = {}
while time.monotonic() < deadline:
    try:
        pid = os.fork()
    except OSError as error:
        errors[error.errno] = errors.get(error.errno, 0) + 1
        time.sleep(0.005)
        continue
    if pid == 0:
        forks = 0
        errors = {}
        continue
    forks += 1
if os.getpid() == first:
    print(json.dumps({"forks": forks, "fork_errors": {str(k): v for k, v in errors.items()}}), flush=True)
os._exit(0)
