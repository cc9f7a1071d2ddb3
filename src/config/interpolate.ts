import { isScalar, visit, type Document, Scalar } from 'yaml';

const REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface InterpolationProblem {
  node: Scalar;
  message: string;
}

/**
 * Replace `${VAR}` and `${VAR:-default}` in every string scalar of the document, in place,
 * so positions stay true for later error messages. `$$` writes a literal `$`.
 * A plain (unquoted) scalar that becomes a number or boolean is typed as one.
 */
export function interpolateEnv(doc: Document, env: NodeJS.ProcessEnv): InterpolationProblem[] {
  const problems: InterpolationProblem[] = [];
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || !node.value.includes('$')) return;
      let missing: string | undefined;
      const text = node.value.replace(REF, (match, name: string | undefined, fallback: string | undefined) => {
        if (match === '$$') return '$';
        const value = env[name!];
        if (value !== undefined && value !== '') return value;
        if (fallback !== undefined) return fallback;
        missing ??= name;
        return '';
      });
      if (missing !== undefined) {
        problems.push({ node, message: `environment variable ${missing} is not set and no default is given (write \${${missing}:-default})` });
        return;
      }
      node.value = node.type === Scalar.PLAIN ? retype(text) : text;
    },
  });
  return problems;
}

function retype(text: string): string | number | boolean {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true') return true;
  if (text === 'false') return false;
  return text;
}

export { isScalar };
