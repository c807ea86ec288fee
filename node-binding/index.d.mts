// Types for koa-session-ts, ESM form (for index.mjs): the declarations of the CommonJS
// index.d.ts (one set of types, one Koa context augmentation) as ESM exports. The names
// match index.mjs: the function as default and as `session`, the stores and constants.
// `export import` aliases (not `export type X = ...`) so that augmenting an interface such as
// TypeOptions from an ES module merges into the one declaration.
import session from './index.js';

export default session;
export { session };

export import BaseStore = session.BaseStore;
export import MemoryStore = session.MemoryStore;
export import RedisStore = session.RedisStore;
export import CONNECT = session.CONNECT;
export import DISCONNECT = session.DISCONNECT;

export import SessionCookie = session.SessionCookie;
export import Session = session.Session;
export import SessionObject = session.SessionObject;
export import TypeOptions = session.TypeOptions;
export import Deferred = session.Deferred;
export import SessionValue = session.SessionValue;
export import StoreResult = session.StoreResult;
export import SessionStore = session.SessionStore;
export import MemoryStoreOptions = session.MemoryStoreOptions;
export import StoreIdsOptions = session.StoreIdsOptions;
export import UserSessionInfo = session.UserSessionInfo;
export import UserSessionsOptions = session.UserSessionsOptions;
export import DestroyUserSessionsOptions = session.DestroyUserSessionsOptions;
export import RedisStoreOptions = session.RedisStoreOptions;
export import RedisErrorCode = session.RedisErrorCode;
export import ErrorType = session.ErrorType;
export import SessionOptions = session.SessionOptions;
export import SessionContext = session.SessionContext;
