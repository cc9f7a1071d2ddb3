/** A glob (`*` any run, `?` one character) compiled once to an anchored regular expression. */
export function globToRegExp(glob: string, flags = ''): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, flags);
}
