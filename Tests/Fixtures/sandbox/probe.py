#!/usr/bin/python3
"""Containment probes that Tests/SandboxTests runs inside autonous-sandbox.

Usage: probe.py identity | files OPS_JSON | syscalls NAME... | sockets [HOST PORT]... |
       netgate ALLOWED_PORT DENIED_PORT NAME | procs

Each subcommand prints exactly one JSON object on stdout. A probe never raises: a failing call is reported with its
errno (0 when the call succeeded), so the test can assert the exact errno. Raw syscalls go through libc's syscall()
so that no libc wrapper translates or emulates them (x86_64 numbers).
"""

import ctypes
import errno
import fcntl
import json

import os
import select
import signal
import socket
import stat
import struct
import sys
import threading
import time

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long
LIBC.prctl.restype = ctypes.c_int

TIOCSTI = 0x5412
TIOCLINUX = 0x541C
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000


def _arg(value):
    if value is None:
        return ctypes.c_void_p(None)
    if isinstance(value, bytes):
        return ctypes.c_char_p(value)
    if isinstance(value, int):
        return ctypes.c_long(value)
    return value


def raw(number, *args):
    """Calls syscall(number, args...) and returns {"ret", "errno"} with errno 0 on success."""
    ctypes.set_errno(0)
    ret = LIBC.syscall(ctypes.c_long(number), *[_arg(a) for a in args])
    err = ctypes.get_errno() if ret == -1 else 0
    return {"ret": ret, "errno": err}


def call(function):
    """Runs a Python call; returns {"errno": 0, "value": ...} or {"errno": N} for an OSError."""
    try:
        return {"errno": 0, "value": function()}
    except OSError as error:
        return {"errno": error.errno if error.errno is not None else -1, "error": str(error)}


def unblock_signals():
    # A child of Foundation's Process may start with every signal blocked.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(signal.Signals))


def open_fds():
    fds = []
    for fd in range(0, 4096):
        try:
            fcntl.fcntl(fd, fcntl.F_GETFD)
        except OSError:
            continue
        fds.append(fd)
    return fds


# identity ------------------------------------------------------------------------------------------------------------

class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def read_text(path):
    try:
        with open(path, "r", errors="replace") as handle:
            return handle.read()
    except OSError as error:
        return None if error.errno is None else "errno:%d" % error.errno


def identity():
    fds = open_fds()  # first, before anything else opens a descriptor
    fd_targets = {}
    for fd in fds:
        try:
            fd_targets[str(fd)] = os.readlink("/proc/self/fd/%d" % fd)
        except OSError as error:
            fd_targets[str(fd)] = "errno:%d" % error.errno
    status = {}
    for line in (read_text("/proc/self/status") or "").splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()
    header = CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (CapData * 2)()
    capget = raw(125, ctypes.byref(header), data)
    capget["effective"] = data[0].effective | data[1].effective << 32
    capget["permitted"] = data[0].permitted | data[1].permitted << 32
    capget["inheritable"] = data[0].inheritable | data[1].inheritable << 32
    bounding = []
    ambient = []
    for cap in range(0, 64):
        ctypes.set_errno(0)
        if LIBC.prctl(23, ctypes.c_ulong(cap), 0, 0, 0) == 1:  # PR_CAPBSET_READ
            bounding.append(cap)
        if LIBC.prctl(47, 1, ctypes.c_ulong(cap), 0, 0) == 1:  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET
            ambient.append(cap)
    tty = call(lambda: os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)))
    with open("/proc/self/environ", "rb") as handle:
        environ = [item.decode(errors="replace") for item in handle.read().split(b"\0") if item]
    result = {
        "open_fds": fds,
        "fd_targets": fd_targets,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "sid": os.getsid(0),
        "pgid": os.getpgid(0),
        "tty": tty,
        "uid": list(os.getresuid()),
        "gid": list(os.getresgid()),
        "groups": os.getgroups(),
        "uid_map": read_text("/proc/self/uid_map"),
        "gid_map": read_text("/proc/self/gid_map"),
        "cwd": os.getcwd(),
        "environ": environ,
        "status": {key: status.get(key) for key in (
            "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Uid", "Gid")},
        "capget": capget,
        "bounding_caps": bounding,
        "ambient_caps": ambient,
    }
    print(json.dumps(result))


# files ---------------------------------------------------------------------------------------------------------------

def _write_new(path, data, flags):
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def _read(path):
    with open(path, "rb") as handle:
        return handle.read(65536).decode(errors="replace")


def _stat(path, follow):
    info = os.stat(path) if follow else os.lstat(path)
    return {"uid": info.st_uid, "gid": info.st_gid, "mode": info.st_mode, "size": info.st_size}


def file_operation(op):
    name, path = op[0], op[1]
    arg = op[2] if len(op) > 2 else None
    actions = {
        "read": lambda: _read(path),
        # O_EXCL: a new file, never through a symlink.
        "create": lambda: _write_new(path, arg or "x", os.O_WRONLY | os.O_CREAT | os.O_EXCL),
        # Follows symlinks, creating the target if it does not exist.
        "create_through": lambda: _write_new(path, arg or "x", os.O_WRONLY | os.O_CREAT),
        # An existing file, opened for writing without O_CREAT.
        "write": lambda: _write_new(path, arg or "x", os.O_WRONLY),
        "append": lambda: _write_new(path, arg or "x", os.O_WRONLY | os.O_APPEND),
        "truncate": lambda: os.truncate(path, 0),
        "mkdir": lambda: os.mkdir(path, 0o755),
        "rmdir": lambda: os.rmdir(path),
        "unlink": lambda: os.unlink(path),
        "rename": lambda: os.rename(path, arg),
        "chmod": lambda: os.chmod(path, arg if arg is not None else 0o600),
        "utime": lambda: os.utime(path, (0, 0)),
        "symlink": lambda: os.symlink(arg, path),
        "link": lambda: os.link(path, arg),
        "listdir": lambda: sorted(os.listdir(path)),
        "stat": lambda: _stat(path, True),
        "lstat": lambda: _stat(path, False),
        "readlink": lambda: os.readlink(path),
        "mknod_char": lambda: os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3)),
    }
    result = call(actions[name])
    result["op"] = name
    result["path"] = path
    return result


def files(ops_json):
    ops = json.loads(ops_json)
    print(json.dumps({"results": [file_operation(op) for op in ops]}))


# syscalls ------------------------------------------------------------------------------------------------------------

class IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _child_sleeper():
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    return pid


def _reap(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except OSError:
        pass


def _exit_if_child(result):
    # clone/clone3 returned 0: this is a child the filter should never have let exist.
    if result["ret"] == 0:
        os._exit(0)
    if result["ret"] > 0:
        try:
            os.waitpid(result["ret"], 0)
        except OSError:
            pass
    return result


def _close_if_fd(result):
    if result["ret"] >= 0:
        try:
            os.close(result["ret"])
        except OSError:
            pass
    return result


def ptrace_attach_child(request):
    child = _child_sleeper()
    try:
        return raw(101, request, child, None, None)
    finally:
        _reap(child)


def ptrace_attach_init():
    result = raw(101, 16, 1, None, None)  # PTRACE_ATTACH
    if result["ret"] == 0:
        # It should never have worked; let init run again so that the sandbox can end.
        try:
            os.waitpid(1, 0x40000000)  # __WALL
        except OSError:
            pass
        raw(101, 17, 1, None, None)  # PTRACE_DETACH
        os.kill(1, signal.SIGCONT)
    return result


def process_vm(number):
    source = ctypes.create_string_buffer(b"autonous", 64)
    target = ctypes.create_string_buffer(64)
    local = IOVec(ctypes.cast(target, ctypes.c_void_p), 8)
    remote = IOVec(ctypes.cast(source, ctypes.c_void_p), 8)
    return raw(number, os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)


def ioctl(fd, request):
    try:
        fcntl.ioctl(fd, request, b"\x06" + b"\0" * 15)
        return {"ret": 0, "errno": 0}
    except OSError as error:
        return {"ret": -1, "errno": error.errno}


def ioctl_high_bits(fd, request):
    # The kernel truncates the request to 32 bits; a filter comparing all 64 bits would miss this (CVE-2017-5226).
    buffer = ctypes.create_string_buffer(b"\x06", 16)
    return raw(16, fd, request | (1 << 32), buffer)


def setns(path, nstype):
    fd = os.open(path, os.O_RDONLY)
    try:
        return raw(308, fd, nstype)
    finally:
        os.close(fd)


def clone3_newuser():
    # struct clone_args (88 bytes, CLONE_ARGS_SIZE_VER2): flags, pidfd, child_tid, parent_tid, exit_signal, stack,
    # stack_size, tls, set_tid, set_tid_size, cgroup.
    args = ctypes.create_string_buffer(struct.pack("<11Q", CLONE_NEWUSER, 0, 0, 0, signal.SIGCHLD, 0, 0, 0, 0, 0, 0))
    return _exit_if_child(raw(435, args, 88))


def bpf():
    attr = ctypes.create_string_buffer(struct.pack("<IIII", 2, 4, 4, 1) + b"\0" * 112)  # BPF_MAP_TYPE_ARRAY
    return _close_if_fd(raw(321, 0, attr, 128))  # BPF_MAP_CREATE


def perf_event_open():
    # PERF_TYPE_SOFTWARE / PERF_COUNT_SW_CPU_CLOCK on this process: allowed by perf_event_paranoid without a filter.
    attr = bytearray(128)
    struct.pack_into("<IIQ", attr, 0, 1, 128, 0)
    buffer = ctypes.create_string_buffer(bytes(attr), 128)
    return _close_if_fd(raw(298, buffer, 0, -1, -1, 0))


def finit_module():
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        return raw(313, fd, b"", 0)
    finally:
        os.close(fd)


def openpty_probe():
    try:
        master, slave = os.openpty()
    except OSError as error:
        return {"openpty_errno": error.errno}
    try:
        return {
            "openpty_errno": 0,
            "master_tiocsti": ioctl(master, TIOCSTI),
            "slave_tiocsti": ioctl(slave, TIOCSTI),
            "master_tioclinux": ioctl(master, TIOCLINUX),
            "slave_tioclinux": ioctl(slave, TIOCLINUX),
            "slave_tiocsti_high_bits": ioctl_high_bits(slave, TIOCSTI),
        }
    finally:
        os.close(master)
        os.close(slave)


SYSCALLS = {
    "ptrace_attach_init": ptrace_attach_init,
    "ptrace_attach_child": lambda: ptrace_attach_child(16),
    "ptrace_seize_child": lambda: ptrace_attach_child(0x4206),  # PTRACE_SEIZE
    "process_vm_readv": lambda: process_vm(310),
    "process_vm_writev": lambda: process_vm(311),
    "unshare_user": lambda: raw(272, CLONE_NEWUSER),
    "unshare_mount": lambda: raw(272, CLONE_NEWNS),
    "unshare_pid": lambda: raw(272, CLONE_NEWPID),
    "unshare_net": lambda: raw(272, CLONE_NEWNET),
    "unshare_uts": lambda: raw(272, CLONE_NEWUTS),
    "unshare_ipc": lambda: raw(272, CLONE_NEWIPC),
    "unshare_cgroup": lambda: raw(272, CLONE_NEWCGROUP),
    "unshare_time": lambda: raw(272, CLONE_NEWTIME),
    "setns_net": lambda: setns("/proc/self/ns/net", CLONE_NEWNET),
    "setns_user": lambda: setns("/proc/self/ns/user", CLONE_NEWUSER),
    "setns_mnt_any": lambda: setns("/proc/self/ns/mnt", 0),
    "clone_newuser": lambda: _exit_if_child(raw(56, CLONE_NEWUSER | signal.SIGCHLD, 0, 0, 0, 0)),
    "clone3": clone3_newuser,
    "bpf": bpf,
    "keyctl": lambda: raw(250, 0, -3, 0),  # KEYCTL_GET_KEYRING_ID of the session keyring
    "add_key": lambda: raw(248, b"user", b"autonous-probe", b"x", 1, -3),
    "request_key": lambda: raw(249, b"user", b"autonous-probe", None, 0),
    "userfaultfd": lambda: _close_if_fd(raw(323, 0)),
    "perf_event_open": perf_event_open,
    "kexec_load": lambda: raw(246, 0, 0, None, 0),
    "init_module": lambda: raw(175, None, 0, b""),
    "finit_module": finit_module,
    "delete_module": lambda: raw(176, b"autonous_probe", 0),
    "swapon": lambda: raw(167, b"/tmp/autonous-probe-swap", 0),
    "reboot": lambda: raw(169, 0xFEE1DEAD, 672274793, 0, None),  # LINUX_REBOOT_CMD_CAD_OFF
    "mount": lambda: raw(165, b"none", b"/tmp", b"tmpfs", 0, None),
    "umount2": lambda: raw(166, b"/tmp", 0),
    "pivot_root": lambda: raw(155, b"/tmp", b"/tmp"),
    "chroot": lambda: raw(161, b"/tmp"),
    "mknod_char": lambda: raw(133, b"/tmp/autonous-probe-null", stat.S_IFCHR | 0o600, os.makedev(1, 3)),
    "mknod_block": lambda: raw(133, b"/tmp/autonous-probe-blk", stat.S_IFBLK | 0o600, os.makedev(7, 0)),
    "pty": openpty_probe,
    "ptrace_traceme": lambda: raw(101, 0, 0, None, None),
}
for _fd in (0, 1, 2):
    SYSCALLS["tiocsti_fd%d" % _fd] = (lambda fd: lambda: ioctl(fd, TIOCSTI))(_fd)
    SYSCALLS["tioclinux_fd%d" % _fd] = (lambda fd: lambda: ioctl(fd, TIOCLINUX))(_fd)
    SYSCALLS["tiocsti_high_bits_fd%d" % _fd] = (lambda fd: lambda: ioctl_high_bits(fd, TIOCSTI))(_fd)


def run_isolated(name):
    """Runs one probe in a child process, so that a call that wrongly succeeds (unshare, ptrace) cannot change
    what the next probe sees."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            result = SYSCALLS[name]()
        except OSError as error:
            result = {"ret": -1, "errno": error.errno, "setup_error": str(error)}
        os.write(writer, json.dumps(result).encode())
        os._exit(0)
    os.close(writer)
    chunks = []
    while True:
        chunk = os.read(reader, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(reader)
    os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks).decode())
    except ValueError:
        return {"ret": -1, "errno": -1, "setup_error": "the probe process died without a result"}


def syscalls(names):
    print(json.dumps({"results": {name: run_isolated(name) for name in names}}))


# sockets -------------------------------------------------------------------------------------------------------------

def try_socket(family, kind, protocol=0):
    try:
        sock = socket.socket(family, kind, protocol)
    except OSError as error:
        return {"errno": error.errno}
    sock.close()
    return {"errno": 0}


def interfaces():
    text = read_text("/proc/net/dev")
    if text is None or text.startswith("errno:"):
        return text
    return sorted(line.split(":")[0].strip() for line in text.splitlines()[2:] if ":" in line)


def connect(host, port):
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError as error:
        return {"stage": "socket", "errno": error.errno}
    sock.settimeout(5)
    try:
        sock.connect((host, port))
    except socket.timeout:
        return {"stage": "connect", "errno": errno.ETIMEDOUT}
    except OSError as error:
        return {"stage": "connect", "errno": error.errno}
    try:
        reply = sock.recv(64).decode(errors="replace").strip()
    except socket.timeout:
        return {"stage": "recv", "errno": errno.ETIMEDOUT}
    except OSError as error:
        return {"stage": "recv", "errno": error.errno}
    finally:
        sock.close()
    return {"stage": "done", "errno": 0, "reply": reply}


def sockets(args):
    result = {
        "inet_stream": try_socket(socket.AF_INET, socket.SOCK_STREAM),
        "inet_dgram": try_socket(socket.AF_INET, socket.SOCK_DGRAM),
        "inet6_stream": try_socket(socket.AF_INET6, socket.SOCK_STREAM),
        "inet6_dgram": try_socket(socket.AF_INET6, socket.SOCK_DGRAM),
        "packet_raw": try_socket(17, socket.SOCK_RAW, socket.htons(3)),  # AF_PACKET, ETH_P_ALL
        "packet_dgram": try_socket(17, socket.SOCK_DGRAM, socket.htons(3)),
        "netlink_audit": try_socket(16, socket.SOCK_RAW, 9),  # AF_NETLINK, NETLINK_AUDIT
        "netlink_kobject_uevent": try_socket(16, socket.SOCK_RAW, 15),
        "netlink_route": try_socket(16, socket.SOCK_RAW, 0),
        "unix_stream": try_socket(socket.AF_UNIX, socket.SOCK_STREAM),
        "interfaces": interfaces(),
    }
    result["connects"] = [connect(args[i], int(args[i + 1])) for i in range(0, len(args) - 1, 2)]
    print(json.dumps(result))


def _outcome(action):
    try:
        value = action()
    except OSError as error:
        return {"errno": error.errno}
    return {"errno": 0, "value": value}


def _exchange(family, address, blocking=True):
    """Connects, reads the server's greeting, closes; the greeting is the value."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        if blocking:
            sock.connect(address)
        else:
            sock.setblocking(False)
            code = sock.connect_ex(address)
            if code not in (0, errno.EINPROGRESS):
                raise OSError(code, os.strerror(code))
            select.select([], [sock], [], 5)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
            sock.setblocking(True)
            sock.settimeout(5)
        return sock.recv(64).decode(errors="replace").strip()
    finally:
        sock.close()


def _unix_server(path):
    """A unix stream server in a thread: listen(2) and a later connect(2) both go through the gate."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def answer():
        connection, _ = server.accept()
        connection.sendall(b"unix-pong\n")
        connection.close()

    threading.Thread(target=answer, daemon=True).start()
    return server


def _fast_open(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        return sock.sendto(b"x", 0x20000000, (host, port))  # MSG_FASTOPEN
    finally:
        sock.close()


def _listen_inet():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
    finally:
        sock.close()


def _abstract():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect("\0autonous-probe-abstract")
    finally:
        sock.close()


def netgate(args):
    """The network tier's checks: ALLOWED and DENIED are ports of host loopback servers, NAME a host name that
    the allowlist lists for ALLOWED."""
    allowed, denied, name = int(args[0]), int(args[1]), args[2]
    server = _unix_server("gate.sock")
    result = {
        "allowed": _outcome(lambda: _exchange(socket.AF_INET, ("127.0.0.1", allowed))),
        "allowed_nonblocking": _outcome(lambda: _exchange(socket.AF_INET, ("127.0.0.1", allowed), blocking=False)),
        "allowed_mapped_v6": _outcome(lambda: _exchange(socket.AF_INET6, ("::ffff:127.0.0.1", allowed))),
        "allowed_by_name": _outcome(lambda: _exchange(socket.AF_INET, (name, allowed))),
        "denied": _outcome(lambda: _exchange(socket.AF_INET, ("127.0.0.1", denied))),
        "denied_mapped_v6": _outcome(lambda: _exchange(socket.AF_INET6, ("::ffff:127.0.0.1", denied))),
        "denied_other_address": _outcome(lambda: _exchange(socket.AF_INET, ("127.0.0.2", allowed))),
        "udp_socket": try_socket(socket.AF_INET, socket.SOCK_DGRAM),
        "udp6_socket": try_socket(socket.AF_INET6, socket.SOCK_DGRAM),
        "unix_dgram_socket": try_socket(socket.AF_UNIX, socket.SOCK_DGRAM),
        "fast_open": _outcome(lambda: _fast_open("127.0.0.1", denied)),
        "listen_inet": _outcome(_listen_inet),
        "abstract_unix": _outcome(_abstract),
        "unix_relative_path": _outcome(lambda: _exchange(socket.AF_UNIX, "gate.sock")),
    }
    server.close()
    print(json.dumps(result))


# procs ---------------------------------------------------------------------------------------------------------------

def procs():
    pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    cmdlines = {}
    roots = {}
    for pid in pids:
        text = read_text("/proc/%d/cmdline" % pid)
        cmdlines[str(pid)] = text.replace("\0", " ").strip() if text else text
        roots[str(pid)] = call(lambda: sorted(os.listdir("/proc/%d/root" % pid)))
    mountinfo = read_text("/proc/self/mountinfo") or ""
    mount_points = [line.split()[4] for line in mountinfo.splitlines() if len(line.split()) > 4]
    result = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "pids": pids,
        "cmdlines": cmdlines,
        "root_listing": sorted(os.listdir("/")),
        "proc_roots": roots,
        "proc1_root_readlink": call(lambda: os.readlink("/proc/1/root")),
        "mount_points": mount_points,
    }
    print(json.dumps(result))


def main():
    unblock_signals()
    command, args = sys.argv[1], sys.argv[2:]
    if command == "identity":
        identity()
    elif command == "files":
        files(args[0])
    elif command == "syscalls":
        syscalls(args)
    elif command == "sockets":
        sockets(args)
    elif command == "netgate":
        netgate(args)
    elif command == "procs":
        procs()
    else:
        print(json.dumps({"error": "unknown probe " + command}))
        sys.exit(2)


if __name__ == "__main__":
    main()
