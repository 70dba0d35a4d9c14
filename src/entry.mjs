// The Worker's entry module: worker-build's output (./index.js beside this file once
// scripts/build.sh has copied it into the build folder), with each Durable Object class
// wrapped in one that extends `DurableObject`.
//
// Why: the Worker and the objects send each other their messages as Workers RPC calls
// (`stub.message(text)`, runtime::send_message), and the runtime offers RPC methods only on a
// class that extends `DurableObject` from "cloudflare:workers". worker-build exports each
// class of the Rust code (`#[durable_object]`) as a Proxy of the wasm-bindgen class, for its
// recovery from a panic, and that class extends nothing. The wrapper builds the Proxy'd
// instance (so the recovery still applies) and forwards to it what the runtime calls: the RPC
// method `message`, `fetch` (the WebSocket connections, and any message sent by fetch),
// `alarm` and the WebSocket events. Nothing else is exposed over RPC.

import { DurableObject } from 'cloudflare:workers';
import Sluice, {
  DeliveryScheduler as RustScheduler,
  EventIndex as RustIndex,
  EventLog as RustLog,
} from './index.js';

/** A `DurableObject` class around the worker-build class `Inner`. */
function rpcObject(Inner) {
  return class extends DurableObject {
    // Private: RPC never sees it.
    #inner;

    constructor(ctx, env) {
      super(ctx, env);
      this.#inner = new Inner(ctx, env);
    }

    /** One message of the object's protocol (JSON text); answers `[status, body]`. */
    message(text) {
      return this.#inner.message(text);
    }

    fetch(request) {
      return this.#inner.fetch(request);
    }

    alarm(info) {
      return this.#inner.alarm(info);
    }

    webSocketMessage(ws, message) {
      return this.#inner.webSocketMessage(ws, message);
    }

    webSocketClose(ws, code, reason, wasClean) {
      return this.#inner.webSocketClose(ws, code, reason, wasClean);
    }

    webSocketError(ws, error) {
      return this.#inner.webSocketError(ws, error);
    }
  };
}

export class DeliveryScheduler extends rpcObject(RustScheduler) {}
export class EventLog extends rpcObject(RustLog) {}
export class EventIndex extends rpcObject(RustIndex) {}

export default Sluice;
