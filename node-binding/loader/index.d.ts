// The addon as lib/ sees it: napi-rs' generated declarations plus the per-request calls.
export * from '../native/binding'
export * from '../native/calls'
