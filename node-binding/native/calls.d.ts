/* The per-request calls of src/calls.rs: plain Node-API functions that napi-rs does not
 * generate (see src/raw.rs for why), so they are typed here by hand; a test checks that every
 * function the addon exports is declared here or in binding.d.ts. Codes (`STEP_*`,
 * `LOAD_REPORT_*`, `STORE_OP_*`, `STORE_CAN_*`) are in binding.d.ts. */

/** `<step><state><sid>[ <other id>]`: a request between calls (the core's request token). */
export type RequestToken = string

/**
 * `[n, op, sid, ttlMs, data, ... (n times), json | null, ...setCookies]`, `op` a `STORE_OP_*`
 * code, `data` the user id of `STORE_OP_INDEX_USER` or the record of `STORE_OP_ALIAS` (else
 * null), `json` what `STORE_OP_SAVE` / `STORE_OP_MERGE` write when it is not the JSON handed in.
 */
export type Plan = Array<number | string | null>

/**
 * `<report digit or "-"><token>`, then `"\n" + record JSON` when a record was loaded. `store`: a
 * native MemoryStore's id to read the record from, or -1.
 */
export declare function requestBegin(engine: number, cookieHeader: string | null, path: string, upstreamSid: string | null, newSid: boolean, store: number, nowMs: number): string | null
/** `<report digit><token>`. */
export declare function requestLoaded(engine: number, token: RequestToken, json: string | null, valid: boolean, newSid: boolean, nowMs: number): string
/** A loaded record as the app sees it (with the lifetime options: without the engine's times); null for a renewed session's alias. */
export declare function sessionJson(engine: number, record: string): string | null
export declare function requestSetSid(engine: number, token: RequestToken, sid: string): RequestToken
export declare function requestRegenerate(engine: number, token: RequestToken, original: string | null, sid: string): RequestToken
export declare function requestWillSave(engine: number, token: RequestToken, original: string | null, json: string | null, save: boolean | null): boolean
export declare function requestFinish(engine: number, token: RequestToken, original: string | null, json: string | null, save: boolean | null, replaced: boolean, plainHttp: boolean, nowMs: number, caps: number): Plan | null
/** The Set-Cookie values joined by `"\n"`. */
export declare function memoryFinish(engine: number, store: number, token: RequestToken, original: string | null, json: string | null, save: boolean | null, replaced: boolean, plainHttp: boolean, nowMs: number): string | null
export declare function clearingCookies(engine: number): string[]
/** The cookies of the session `json` under `cookieId`: sent when a merge found the session renewed meanwhile. */
export declare function renamedCookies(engine: number, cookieId: string, json: string, plainHttp: boolean, nowMs: number): string[]
