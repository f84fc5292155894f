// DynamoDB's typed JSON (`{"n": {"N": "1"}}`) and plain JSON (`{"n": 1}`), both ways. Plain JSON
// has no sets and no binary, and JavaScript numbers hold about 15 digits: an item using those
// is edited in typed JSON, as the API takes it.

/** Plain JSON value → attribute value: strings S, numbers N, true/false BOOL, null NULL,
 * arrays L, objects M. */
export function toTyped(v) {
  if (v === null) return { NULL: true };
  if (typeof v === 'string') return { S: v };
  if (typeof v === 'number') return { N: String(v) };
  if (typeof v === 'boolean') return { BOOL: v };
  if (Array.isArray(v)) return { L: v.map(toTyped) };
  return { M: itemToTyped(v) };
}

export function itemToTyped(o) {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, toTyped(v)]));
}

/** Attribute value → plain JSON value; throws when plain JSON cannot hold it exactly. */
export function toPlain(av) {
  const [type, v] = Object.entries(av)[0] || [];
  switch (type) {
    case 'S': return v;
    case 'N': {
      const n = Number(v);
      if (!Number.isFinite(n) || (String(n) !== v && !sameNumber(n, v))) throw new Error(`the number ${v} has more digits than plain JSON keeps`);
      return n;
    }
    case 'BOOL': return v;
    case 'NULL': return null;
    case 'L': return v.map(toPlain);
    case 'M': return itemToPlain(v);
    default: throw new Error(`plain JSON has no ${type} (set or binary) type`);
  }
}

/** Whether `text` fits a double exactly: at most 15 significant digits ("1.50" is 1.5). */
function sameNumber(n, text) {
  const digits = text.replace(/[eE].*$/, '').replace(/[^0-9]/g, '').replace(/^0+/, '').replace(/0+$/, '');
  return Number.isFinite(n) && digits.length <= 15;
}

export function itemToPlain(item) {
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, toPlain(v)]));
}

/** Whether an item can be shown as plain JSON without losing anything. */
export function plainable(item) {
  try { itemToPlain(item); return true; } catch { return false; }
}

/** A key attribute's typed value from what the user typed, per its type (S, N or B). */
export function keyValue(type, text) {
  return { [type]: type === 'N' ? String(text).trim() : String(text) };
}
