#!/usr/bin/python3
"""A TCP server on the host's loopback for the network cases (SANDBOX-TESTS.md 23-25).

Listens on 127.0.0.1 on a free port, prints {"port": N} on one line, then answers every connection with "pong\n"
and appends one line per accepted connection to the file named by argv[1]. Exits when its stdin closes (the test
that owns it went away) or on SIGTERM/SIGKILL.
"""

import json
import os
import signal
import socket
import sys
import threading

signal.pthread_sigmask(signal.SIG_UNBLOCK, set(signal.Signals))
log_path = sys.argv[1]
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(16)
print(json.dumps({"port": server.getsockname()[1]}), flush=True)


def watch_stdin():
    while sys.stdin.buffer.read(1):
        pass
    os._exit(0)


threading.Thread(target=watch_stdin, daemon=True).start()
while True:
    connection, peer = server.accept()
    with open(log_path, "a") as log:
        log.write("%s:%d\n" % peer)
    try:
        connection.sendall(b"pong\n")
    except OSError:
        pass
    connection.close()
