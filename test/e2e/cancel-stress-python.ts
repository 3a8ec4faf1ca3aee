/**
 * The Python grpcio client of the cancel stress test (gRPC C-core, Debian's
 * python3-grpcio), where it is installed. It sends raw bytes through
 * grpcio's generic multi-callables, encoding Chat's two request messages by
 * hand (a string field 1 and a field 2), so no code generation runs. The
 * plan comes on stdin as JSON; each call's status comes back as one JSON
 * line on stdout.
 */
import { spawn, spawnSync } from "node:child_process";
import type { PlannedCall } from "./cancel-stress-plan.js";
import { ID_HEADER } from "./cancel-stress-plan.js";

const PYTHON = "/usr/bin/python3";

export function pythonInstalled(): boolean {
  return spawnSync(PYTHON, ["-c", "import grpc"]).status === 0;
}

const SCRIPT = `
import json, sys, threading
from concurrent.futures import ThreadPoolExecutor
import grpc

port, concurrency = sys.argv[1], int(sys.argv[2])
calls = json.load(sys.stdin)
channel = grpc.insecure_channel("127.0.0.1:" + port)
upload = channel.stream_unary("/example.v1.Chat/Upload")
converse = channel.stream_stream("/example.v1.Chat/Converse")

def field(number, data):
    out, n = bytearray([(number << 3) | 2]), len(data)
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + data

def message(call, i):
    return field(1, call["id"].encode()) + field(2, ("message %d" % i).encode())

def run(call):
    ready, done, holder = threading.Event(), threading.Event(), {}
    point = call["point"]
    def cancel():
        ready.wait()
        holder["call"].cancel()
    def requests():
        for i in range(call["sentBeforeCancel"]):
            yield message(call, i)
        if point == "after-half-close":
            delay = {"sync": 0, "microtask": 0, "immediate": 0.0005, "timer": 0.001}[call["context"]]
            threading.Timer(delay, cancel).start()
        if point in ("none", "after-half-close"):
            return
        cancel()
        done.wait()
    metadata = (("${ID_HEADER}", call["id"]),)
    try:
        if call["method"] == "upload":
            holder["call"] = upload.future(requests(), metadata=metadata)
            ready.set()
            holder["call"].result()
        else:
            holder["call"] = converse(requests(), metadata=metadata)
            ready.set()
            for _ in holder["call"]:
                pass
        return "OK"
    except grpc.FutureCancelledError:
        return "CANCELLED"
    except grpc.RpcError as error:
        return error.code().name
    finally:
        done.set()

with ThreadPoolExecutor(concurrency) as pool:
    outcomes = dict(zip([c["id"] for c in calls], pool.map(run, calls)))
channel.close()
print(json.dumps(outcomes))
`;

/** Runs the planned calls from a Python process; resolves with each call's status by id. */
export function runPythonClient(
  calls: PlannedCall[],
  port: number,
  concurrency: number,
): Promise<{ outcomes: Record<string, string>; clientActive: number }> {
  const child = spawn(PYTHON, ["-c", SCRIPT, String(port), String(concurrency)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stdin.end(JSON.stringify(calls));
  return new Promise((resolve, reject) => {
    child.once("close", (code) => {
      if (code !== 0) reject(new Error(`the Python client exited with ${code}`));
      else resolve({ outcomes: JSON.parse(out) as Record<string, string>, clientActive: 0 });
    });
  });
}
