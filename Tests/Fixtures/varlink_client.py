#!/usr/bin/env python3
"""A varlink client that is not autonous's own, for the control-socket interoperability tests.

  varlink_client.py SOCKET library   GetStatus through the PyPI `varlink` package (which first fetches and parses
                                     the interface description, so the IDL must be valid)
  varlink_client.py SOCKET raw       raw NUL-framed JSON on the socket: GetInfo, GetInterfaceDescription,
                                     GetStatus, an unknown method and a malformed parameter

Prints one JSON object with what came back. Every socket operation has a 10 s timeout.
"""
import json
import socket
import sys


def raw_call(sock, message):
    sock.sendall(json.dumps(message).encode() + b"\0")
    data = b""
    while not data.endswith(b"\0"):
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("connection closed")
        data += chunk
    return json.loads(data[:-1])


def main():
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "library":
        import varlink

        with varlink.Client(address="unix:" + path) as client, client.open("io.autonous.Control", namespaced=False) as control:
            status = control.GetStatus()
            info = client.get_interfaces()
            print(json.dumps({"status": status, "interfaces": list(info)}))
        return
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(path)
    result = {
        "info": raw_call(sock, {"method": "org.varlink.service.GetInfo"}),
        "description": raw_call(sock, {"method": "org.varlink.service.GetInterfaceDescription",
                                       "parameters": {"interface": "io.autonous.Control"}}),
        "status": raw_call(sock, {"method": "io.autonous.Control.GetStatus", "parameters": {}}),
        "unknown": raw_call(sock, {"method": "io.autonous.Control.Explode", "parameters": {}}),
        "unknownInterface": raw_call(sock, {"method": "com.example.Nothing.Here"}),
        "badParameter": raw_call(sock, {"method": "io.autonous.Control.Chat", "parameters": {"text": 42}}),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
