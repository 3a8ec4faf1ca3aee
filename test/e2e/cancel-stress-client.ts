/**
 * The client process of the cancel stress test: runs one client kind's
 * planned calls against the server's port, then prints one JSON line (each
 * call's client-side status by id, and the calls the client still holds)
 * and exits.
 * Usage: cancel-stress-client.ts <kind> <port> <seed> <count> <concurrency>
 */
import { type ClientKind, makeClient } from "./cancel-stress-clients.js";
import { pool } from "./cancel-stress-drive.js";
import { planCalls } from "./cancel-stress-plan.js";

const [kind, port, seed, count, concurrency] = process.argv.slice(2);
const client = makeClient(kind as ClientKind, `127.0.0.1:${port}`);
const calls = planCalls(Number(seed), Number(count), kind as string);
const outcomes = await pool(calls, Number(concurrency), (call) => client.run(call));
const active = client.active();
client.close();
process.stdout.write(`${JSON.stringify({ outcomes, active })}\n`, () => process.exit(0));
