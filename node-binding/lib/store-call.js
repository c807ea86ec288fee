'use strict';
// Store methods may return a value, a Promise, a thunk (a function taking a node-style
// callback) or a generator (run co-style: each yielded value is settled the same way).
// `settle` turns any of them into a value or a Promise.

function isGenerator(v) {
  return typeof v.next === 'function' && typeof v.throw === 'function';
}

function settle(result) {
  if (result === null || result === undefined) return result;
  if (typeof result.then === 'function') return result;
  if (typeof result === 'function') return runThunk(result);
  if (typeof result === 'object' && isGenerator(result)) return runGenerator(result);
  return result;
}

function runThunk(thunk) {
  return new Promise((resolve, reject) => {
    let done = false;
    thunk((err, value) => {
      if (done) return;
      done = true;
      if (err) reject(err);
      else resolve(value);
    });
  });
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
