#!/usr/bin/python3
"""An RPC client of criu-ts for test/e2e/rpc.test.ts, built on Debian's pycriu.

  rpc_client.py pycriu BINARY ACTION [OPTS_JSON]
      ACTION is check, version, dump or restore: pycriu's criu class runs `BINARY swrk FD`
      (or, for BINARY sk:PATH, connects to the service socket PATH), with OPTS_JSON (criu_opts
      fields; "images_dir" is opened here and passed as images_dir_fd).
  rpc_client.py raw BINARY REQ_HEX
      Makes the socketpair itself, runs `BINARY swrk FD` with stdout and stderr captured, sends
      the bytes REQ_HEX as one packet, reads one answer, closes its end and waits for BINARY.

Prints one JSON object: the request and the answer as rpc_pb2 parsed them (json_format), the
answer's bytes in hex, and (raw) BINARY's exit code, stdout and stderr; or {"error": ...}.
"""

import json
import os
import socket
import subprocess
import sys

import pycriu
import pycriu.rpc_pb2 as rpc
from google.protobuf import json_format


def as_dict(msg):
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def set_opts(opts, given):
    for key, value in given.items():
        if key == "images_dir":
            opts.images_dir_fd = os.open(value, os.O_DIRECTORY)
        else:
            setattr(opts, key, value)


def via_pycriu(binary, action, given):
    c = pycriu.criu()
    if binary.startswith("sk:"):
        c.use_sk(binary[3:])
    else:
        c.use_binary(binary)
    set_opts(c.opts, given)
    try:
        if action == "check":
            c.check()
            return {"ok": True}
        if action == "version":
            req = rpc.criu_req()
            req.type = rpc.VERSION
            return {"ok": True, "response": as_dict(c._send_req_and_recv_resp(req))}
        if action == "dump":
            return {"ok": True, "dump": as_dict(c.dump())}
        if action == "restore":
            return {"ok": True, "restore": as_dict(c.restore())}
    except pycriu.CRIUException as e:
        return {"ok": False, "error": str(e), "errno": getattr(e, "errno", None)}
    raise SystemExit("unknown action " + action)


def raw(binary, req_hex):
    data = bytes.fromhex(req_hex)
    req = rpc.criu_req()
    try:
        req.ParseFromString(data)
        parsed = as_dict(req)
    except Exception:  # a request rpc_pb2 refuses too: sent as it is
        parsed = None
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen(
        [binary, "swrk", str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    theirs.close()
    ours.send(data)
    answer = ours.recv(1 << 20)
    ours.close()
    out, err = proc.communicate(timeout=60)
    resp = rpc.criu_resp()
    resp.ParseFromString(answer)
    return {
        "request": parsed,
        "response": as_dict(resp),
        "response_hex": answer.hex(),
        "exit": proc.returncode,
        "stdout": out.decode(errors="replace"),
        "stderr": err.decode(errors="replace"),
    }


def main():
    mode, binary = sys.argv[1], sys.argv[2]
    if mode == "pycriu":
        given = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
        result = via_pycriu(binary, sys.argv[3], given)
    else:
        result = raw(binary, sys.argv[3])
    print(json.dumps(result))


main()
