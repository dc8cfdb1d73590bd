"""dd_tune's local Ray instance: no listening socket is both reachable from the network and open to a
client without Ray's auth token (Linux: /proc is read directly, no extra packages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(r'''
    import json, os, socket, sys, urllib.error, urllib.request

    import grpc

    from dd_tune.tune.cluster import connect

    connect(None, 1)  # exactly as `python -m dd_tune.study` starts its local instance
    import ray

    @ray.remote(num_cpus=0)
    def ping():
        return os.getpid()

    ray.get(ping.remote())  # a worker runs: its sockets are listed too

    def listeners():
        out = {}
        for name, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
            for line in open(name).read().splitlines()[1:]:
                f = line.split()
                if f[3] != "0A":  # LISTEN
                    continue
                addr, port = f[1].split(":")
                raw = bytes.fromhex(addr)
                if v6:
                    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    ip = socket.inet_ntop(socket.AF_INET6, raw)
                else:
                    ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
                out[f[9]] = (ip, int(port, 16))
        return out

    def ray_pids(session):
        """The driver, every process started for this Ray session, and the workers (retitled ray::)."""
        pids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = open(f"/proc/{pid}/cmdline").read().replace("\0", " ")
            except OSError:
                continue
            if int(pid) == os.getpid() or session in cmd or cmd.startswith("ray::"):
                pids.append(int(pid))
        return pids

    def sockets(pid):
        inodes = set()
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            pass
        return inodes

    # one real method of each of Ray's gRPC services (GCS, raylet, object manager, core worker)
    METHODS = ["/ray.rpc.NodeInfoGcsService/GetAllNodeInfo", "/ray.rpc.NodeManagerService/GetNodeStats",
               "/ray.rpc.ObjectManagerService/Pull", "/ray.rpc.CoreWorkerService/NumPendingTasks"]

    def grpc_probe(host, port):
        """gRPC status per method for a client without the token (UNIMPLEMENTED: not this service)."""
        channel = grpc.insecure_channel(f"{host}:{port}")
        out = {}
        for method in METHODS:
            call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
            try:
                call(b"", timeout=5)
                out[method] = "OK"
            except grpc.RpcError as e:
                out[method] = e.code().name
        channel.close()
        return {m: c for m, c in out.items() if c != "UNIMPLEMENTED"}

    def http_probe(host, port):
        """HTTP status for a request without the token (the runtime-env agent is an HTTP server)."""
        try:
            return urllib.request.urlopen(f"http://{host}:{port}/get_or_create_runtime_env", data=b"x",
                                          timeout=5).status
        except urllib.error.HTTPError as e:
            return e.code
        except Exception as e:  # not HTTP
            return type(e).__name__

    table = listeners()
    session = ray._private.worker._global_node.get_session_dir_path()
    found = []
    for pid in ray_pids(session):
        name = open(f"/proc/{pid}/comm").read().strip()
        for inode in sockets(pid):
            if inode in table:
                ip, port = table[inode]
                loopback = ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1")
                host = "127.0.0.1" if ip in ("::", "0.0.0.0") else ip
                found.append({"pid": pid, "process": name, "ip": ip, "port": port, "loopback": loopback,
                              "grpc": {} if loopback else grpc_probe(host, port),
                              "http": None if loopback else http_probe(host, port)})
    print("RESULT " + json.dumps({"auth_mode": os.environ.get("RAY_AUTH_MODE"), "listeners": found}))
    ray.shutdown()
''')


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_local_ray_has_no_open_unauthenticated_listener(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}  # as a user's shell has it
    env["HOME"] = str(tmp_path)  # Ray writes its token to ~/.ray/auth_token
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=240)
    line = next((x for x in r.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, r.stdout[-2000:] + r.stderr[-3000:]
    result = json.loads(line[len("RESULT "):])
    assert result["auth_mode"] == "token"
    assert (tmp_path / ".ray" / "auth_token").exists()
    # the token is readable by its owner only (Ray writes it 0644 into a 0755 folder)
    assert (tmp_path / ".ray").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / ".ray" / "auth_token").stat().st_mode & 0o777 == 0o600
    listeners = result["listeners"]

    def refused(s):
        statuses = set(s["grpc"].values())
        return statuses == {"UNAUTHENTICATED"} or (not statuses - {"UNAVAILABLE"} and s["http"] in (401, 403))

    open_ones = [s for s in listeners if not s["loopback"] and not refused(s)]
    assert not open_ones, f"reachable from the network without Ray's token: {open_ones}"
    # the probe saw Ray's servers (a probe that finds nothing proves nothing): GCS, raylet, the driver
    refusing = {m for s in listeners for m, c in s["grpc"].items() if c == "UNAUTHENTICATED"}
    assert {"/ray.rpc.NodeInfoGcsService/GetAllNodeInfo", "/ray.rpc.NodeManagerService/GetNodeStats",
            "/ray.rpc.CoreWorkerService/NumPendingTasks"} <= refusing, listeners


def test_an_existing_token_and_its_folder_are_made_private(tmp_path, monkeypatch):
    from dd_tune.tune.cluster import make_token_private

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    make_token_private()  # before Ray starts: the folder exists, private, before the token does
    assert (tmp_path / ".ray").stat().st_mode & 0o777 == 0o700
    token = tmp_path / ".ray" / "auth_token"
    token.write_text("secret")
    os.chmod(tmp_path / ".ray", 0o755)
    os.chmod(token, 0o644)
    make_token_private()
    assert (tmp_path / ".ray").stat().st_mode & 0o777 == 0o700 and token.stat().st_mode & 0o777 == 0o600
    # a token elsewhere (RAY_AUTH_TOKEN_PATH): the file is made private, its folder is the user's own
    other = tmp_path / "shared"
    other.mkdir(mode=0o755)
    (other / "tok").write_text("secret")
    os.chmod(other / "tok", 0o644)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(other / "tok"))
    make_token_private()
    assert (other / "tok").stat().st_mode & 0o777 == 0o600 and other.stat().st_mode & 0o777 == 0o755


def test_a_local_study_starts_its_own_ray_and_never_joins_one_it_finds(tmp_path):
    """RAY_ADDRESS (or /tmp/ray/ray_current_cluster, which any user can write) names someone else's Ray:
    the local instance is started with address "local" and ignores both (no traceback, no hang)."""
    probe = ("from dd_tune.tune.cluster import connect\nconnect(None, 1)\nimport ray\n"
             "print('GCS', ray.get_runtime_context().gcs_address)\n")
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:9"}  # nobody answers there
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    gcs = next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("GCS"))
    assert not gcs.endswith(":9")
