// Storage for oidc-provider's models (sessions, interactions, grants, codes,
// refresh tokens, …): one in-memory map, written to $DATA_DIR/oidc-store.json
// after every change when DATA_DIR is set, so refresh tokens and grants survive
// a restart of the peer. The test control API scans it to find a user's grants.
//
// Keys are `${model}:${id}`; each entry is { payload, expiresAt } with expiresAt
// in epoch ms (null: no expiry). Payloads are cloned in and out, so what the
// provider holds is never the stored object itself.

import fs from "node:fs";
import path from "node:path";

// Stored entries outlive their expiresIn by this much, so that the provider
// itself can still find and report an expired artifact (e.g. "refresh token is
// expired" rather than "not found").
const EXPIRY_SLACK_MS = 60 * 1000;

export class Store {
  constructor(file, log) {
    this.file = file || "";
    this.log = log || (() => {});
    this.map = new Map();
    this.load();
    // Expired entries are otherwise only dropped when looked up.
    setInterval(() => this.purge(), 60 * 1000).unref();
  }

  load() {
    if (!this.file) return;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    let raw;
    try {
      raw = fs.readFileSync(this.file, "utf8");
    } catch (err) {
      if (err.code === "ENOENT") return;
      throw err;
    }
    let data;
    try {
      data = JSON.parse(raw);
    } catch (err) {
      this.log(`ignoring unreadable ${this.file}: ${err.message}`);
      return;
    }
    const now = Date.now();
    for (const [key, entry] of Object.entries((data && data.entries) || {})) {
      if (!entry || typeof entry !== "object") continue;
      if (entry.expiresAt !== null && !(entry.expiresAt > now)) continue;
      this.map.set(key, { payload: entry.payload, expiresAt: entry.expiresAt });
    }
    this.log(`loaded ${this.file}: ${this.map.size} stored artifacts`);
  }

  save() {
    if (!this.file) return;
    this.purge();
    const data = { version: 1, entries: Object.fromEntries(this.map) };
    const tmp = `${this.file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(data));
    fs.renameSync(tmp, this.file);
  }

  purge() {
    const now = Date.now();
    for (const [key, entry] of this.map) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) this.map.delete(key);
    }
  }

  live(key) {
    const entry = this.map.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= Date.now()) {
      this.map.delete(key);
      return undefined;
    }
    return entry;
  }

  get(key) {
    const entry = this.live(key);
    return entry ? structuredClone(entry.payload) : undefined;
  }

  set(key, payload, expiresInSeconds) {
    const expiresAt =
      typeof expiresInSeconds === "number" ? Date.now() + expiresInSeconds * 1000 + EXPIRY_SLACK_MS : null;
    this.map.set(key, { payload: structuredClone(payload), expiresAt });
    this.save();
  }

  delete(key) {
    if (this.map.delete(key)) this.save();
  }

  // [model, id, payload] of every live entry, optionally of one model only.
  *scan(model) {
    const now = Date.now();
    for (const [key, entry] of this.map) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) continue;
      const i = key.indexOf(":");
      const m = key.slice(0, i);
      if (model && m !== model) continue;
      yield [m, key.slice(i + 1), entry.payload];
    }
  }

  // The adapter class oidc-provider instantiates once per model name.
  adapterClass() {
    const store = this;
    return class StoreAdapter {
      constructor(model) {
        this.model = model;
      }

      key(id) {
        return `${this.model}:${id}`;
      }

      async upsert(id, payload, expiresIn) {
        store.set(this.key(id), payload, expiresIn);
      }

      async find(id) {
        return store.get(this.key(id));
      }

      async findByUid(uid) {
        for (const [, , payload] of store.scan(this.model)) {
          if (payload.uid === uid) return structuredClone(payload);
        }
        return undefined;
      }

      async findByUserCode(userCode) {
        for (const [, , payload] of store.scan(this.model)) {
          if (payload.userCode === userCode) return structuredClone(payload);
        }
        return undefined;
      }

      async consume(id) {
        const entry = store.live(this.key(id));
        if (entry) {
          entry.payload.consumed = Math.floor(Date.now() / 1000);
          store.save();
        }
      }

      async destroy(id) {
        store.delete(this.key(id));
      }

      async revokeByGrantId(grantId) {
        let changed = false;
        for (const [, id, payload] of [...store.scan(this.model)]) {
          if (payload.grantId === grantId) {
            store.map.delete(this.key(id));
            changed = true;
          }
        }
        if (changed) store.save();
      }
    };
  }
}
