'use strict';
// Command-line pieces shared by run.js and in-process.js.

/** `--name value` options and the `--smoke` flag of `argv`. */
function parseArgs(argv) {
  const opt = (name, dflt) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  return { opt, smoke: argv.includes('--smoke') };
}

/** The variants to run (bare always first, the ratios' reference) and the scenarios. */
function selection(opt, defaultVariants) {
  const variants = opt('variants', defaultVariants.join(',')).split(',');
  if (!variants.includes('bare')) variants.unshift('bare');
  return { variants, scenarios: opt('scenarios', 'new,read,write').split(',') };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

module.exports = { parseArgs, selection, median };
