/**
 * Everest's `globMatch(key, pattern)`: Go casbin's is doublestar.Match(pattern, key), where `*` matches any
 * run of characters but `/` (the empty run included), `**` as a whole path segment crosses `/`, `?` is one
 * character but `/`, `[...]`/`[!...]` a class and `{a,b}` alternatives. node-casbin's own globMatch
 * (minimatch, with a leading `*` + `/` cut off) differs: `*` + `/*` would no longer match `ns/x`, and `*`
 * would not match the empty object of a global resource, so Everest's admin rule would fail. Patterns
 * become anchored regular expressions, compiled once.
 */
const compiled = new Map<string, RegExp>();

const escape = (c: string) => c.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');

function toRegExp(pattern: string): RegExp {
  let out = '';
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '\\' && i + 1 < pattern.length) {
      out += escape(pattern.charAt(++i));
    } else if (c === '*') {
      const wholeSegment =
        pattern[i + 1] === '*' &&
        (i === 0 || pattern[i - 1] === '/') &&
        (i + 2 === pattern.length || pattern[i + 2] === '/');
      if (wholeSegment) {
        // `**/` is zero or more whole segments; a trailing `**` is anything.
        if (pattern[i + 2] === '/') {
          out += '(?:.*/)?';
          i += 2;
        } else {
          out += '.*';
          i += 1;
        }
      } else {
        while (pattern[i + 1] === '*') i++;
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) return /(?!)/; // doublestar: a malformed pattern matches nothing
      let body = pattern.slice(i + 1, end);
      if (body.startsWith('!') || body.startsWith('^')) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '{') {
      braces++;
      out += '(?:';
    } else if (c === ',' && braces > 0) {
      out += '|';
    } else if (c === '}' && braces > 0) {
      braces--;
      out += ')';
    } else {
      out += escape(c);
    }
  }
  if (braces > 0) return /(?!)/;
  return new RegExp(`^${out}$`, 's');
}

export function globMatch(key: string, pattern: string): boolean {
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = toRegExp(pattern);
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(key);
}
