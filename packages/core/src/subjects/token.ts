/**
 * Encodes any string as one NATS subject token, injectively: ASCII letters, digits and `-`
 * stay as they are (so subjects stay readable in monitoring), every other UTF-8 byte becomes
 * `_` followed by two uppercase hex digits. `_` itself is escaped, so decoding is unambiguous.
 * Injective over well-formed strings (no lone surrogates; names are validated for that).
 * The result never contains `.`, `*`, `>`, whitespace or `$`, and is never empty.
 */
export function encodeToken(value: string): string {
  if (value.length === 0) return '_';
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45) {
      out += value[i];
    } else {
      return out + escapeRest(value.slice(i));
    }
  }
  return out;
}

function escapeRest(rest: string): string {
  let out = '';
  for (const byte of Buffer.from(rest, 'utf8')) {
    if ((byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte === 45) {
      out += String.fromCharCode(byte);
    } else {
      out += '_' + byte.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

export function decodeToken(token: string): string {
  if (token === '_') return '';
  if (!token.includes('_')) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '_') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
