'use strict';
// Store methods may return a value, a Promise, a thunk (a function taking a node-style
// callback) or a generator (run co-style: each yielded value is settled the same way).
// `settle` turns any of them into a value or a Promise.

function settle(result) {
  if (result === null || typeof result !== 'object' && typeof result !== 'function') return result;
  if (typeof result.then === 'function') return result;
  if (typeof result === 'function') return new Promise((resolve, reject) => result((err, v) => (err ? reject(err) : resolve(v))));
  return typeof result.next === 'function' && typeof result.throw === 'function' ? runGenerator(result) : result;
}

async function runGenerator(gen) {
  let input;
  let failed = false;
  for (;;) {
    const step = failed ? gen.throw(input) : gen.next(input);
    if (step.done) return settle(step.value);
    try {
      input = await settle(step.value);
      failed = false;
    } catch (err) {
      input = err;
      failed = true;
    }
  }
}

module.exports = { settle };
