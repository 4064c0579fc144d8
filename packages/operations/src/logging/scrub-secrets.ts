/**
 * Last line of defence for logs and start-up errors: whatever code logged, these never leave
 * the process. Field names are redacted by pino; this catches secrets embedded in strings
 * (URLs with ?token=, error messages, Authorization headers copied into a message).
 */
const PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // Authorization header values.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 [redacted]'],
  // JWTs (user tokens): base64url JSON header, payload and signature.
  [/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, '[redacted-jwt]'],
  // API keys: keep the kind and environment, which say what was used without saying which.
  [/\b(seck|pubk)_(test|live)_[A-Za-z0-9]+/g, '$1_$2_[redacted]'],
  // Credentials in query strings, whatever their shape.
  [/([?&;](?:token|jwt|key|access_token|secret|password)=)[^&\s"'\\]*/gi, '$1[redacted]'],
  // Passwords in URLs such as nats://user:password@host.
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@"']+:)[^\s@/"']+@/gi, '$1[redacted]@'],
];

export function scrubSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}
