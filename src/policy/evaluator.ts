import { BlockList, isIPv4 } from 'node:net';
import type { AirgateConfig } from '../config/schema.js';
import { globToRegExp } from './glob.js';
import { segmentPrefixTest } from '../core/prefix.js';
import type { DagScope } from './dag-sources.js';

type RuleConfig = AirgateConfig['policy']['rules'][number];

/** What a rule may look at. */
export interface PolicyRequest {
  host: string;
  /** Normalized path, compared case-insensitively. */
  path: string;
  method: string;
  /** The DAGs the request is about (never `body`: the body is read before policy runs). */
  dags: DagScope;
  user: string | undefined;
  email: string | undefined;
  groups: readonly string[];
  role: string | undefined;
  auth: 'none' | 'oidc' | 'bearer';
  source: string;
}

export interface Decision {
  allow: boolean;
  rule: string;
  reason: string;
}

type Test = (r: PolicyRequest) => boolean;

function pathTest(p: string): Test {
  if (p.includes('*') || p.includes('?')) {
    const re = globToRegExp(p.toLowerCase());
    return (r) => re.test(r.path.toLowerCase());
  }
  const test = segmentPrefixTest(p);
  return (r) => test(r.path);
}

/** A rule compiled once into a list of tests, all of which must pass. */
function compile(rule: RuleConfig): { name: string; allow: boolean; tests: Test[]; describe: string } {
  const m = rule.match;
  const tests: Test[] = [];
  const parts: string[] = [];
  if (m.hosts) {
    const res = m.hosts.map((h) => globToRegExp(h.toLowerCase()));
    tests.push((r) => res.some((re) => re.test(r.host)));
    parts.push(`host ${m.hosts.join('|')}`);
  }
  if (m.paths) {
    const ts = m.paths.map(pathTest);
    tests.push((r) => ts.some((t) => t(r)));
    parts.push(`path ${m.paths.join('|')}`);
  }
  if (m.methods) {
    const set = new Set(m.methods);
    tests.push((r) => set.has(r.method));
    parts.push(`method ${m.methods.join('|')}`);
  }
  if (m.dags) {
    const res = m.dags.map((d) => globToRegExp(d));
    const named = (id: string) => res.some((re) => re.test(id));
    // An allow rule opens only requests whose every DAG it names; a deny rule closes a request if
    // any DAG matches, and every request whose DAGs cannot be named (`~`, patterns, unreadable bodies).
    if (rule.effect === 'allow') tests.push((r) => r.dags.kind === 'ids' && r.dags.ids.every(named));
    else tests.push((r) => r.dags.kind === 'unknown' || (r.dags.kind === 'ids' && r.dags.ids.some(named)));
    parts.push(`dag ${m.dags.join('|')}`);
  }
  if (m.users) {
    const set = new Set(m.users);
    tests.push((r) => r.user !== undefined && set.has(r.user));
    parts.push(`user ${m.users.join('|')}`);
  }
  if (m.email_domains) {
    const set = new Set(m.email_domains.map((d) => d.toLowerCase()));
    tests.push((r) => r.email !== undefined && set.has(r.email.split('@')[1]?.toLowerCase() ?? ''));
    parts.push(`email domain ${m.email_domains.join('|')}`);
  }
  if (m.groups) {
    const set = new Set(m.groups);
    tests.push((r) => r.groups.some((g) => set.has(g)));
    parts.push(`group ${m.groups.join('|')}`);
  }
  if (m.roles) {
    const set = new Set(m.roles);
    tests.push((r) => r.role !== undefined && set.has(r.role));
    parts.push(`role ${m.roles.join('|')}`);
  }
  if (m.auth) {
    const set = new Set<string>(m.auth);
    tests.push((r) => set.has(r.auth));
    parts.push(`auth ${m.auth.join('|')}`);
  }
  if (m.sources) {
    const list = new BlockList();
    for (const c of m.sources) list.addSubnet(c.address, c.prefix, c.family);
    tests.push((r) => r.source !== '' && list.check(r.source, isIPv4(r.source) ? 'ipv4' : 'ipv6'));
    parts.push(`source ${m.sources.map((c) => `${c.address}/${c.prefix}`).join('|')}`);
  }
  return { name: rule.name, allow: rule.effect === 'allow', tests, describe: parts.join(', ') || 'every request' };
}

/**
 * A pure evaluator of ordered allow/deny rules: a matching deny wins over any allow; a protected
 * route with no matching allow is denied. Rules are compiled once; decisions are cached per
 * identity and request shape, so a thousand rules cost about what one does on repeated requests.
 */
export class PolicyEvaluator {
  private readonly rules: ReturnType<typeof compile>[];
  private readonly cache = new Map<string, Decision>();
  private readonly cacheSize: number;
  /** Whether any rule looks at DAGs (only then are request bodies read for DAG ids). */
  readonly judgesDags: boolean;

  constructor(rules: readonly RuleConfig[], cacheSize = 50_000) {
    this.rules = rules.map(compile);
    this.cacheSize = cacheSize;
    this.judgesDags = rules.some((r) => r.match.dags !== undefined);
  }

  get size(): number {
    return this.rules.length;
  }

  decide(r: PolicyRequest): Decision {
    const dags = r.dags.kind === 'ids' ? r.dags.ids.join('\u0001') : r.dags.kind;
    const key = `${r.method} ${r.host} ${r.path}\u0000${dags}\u0000${r.user ?? ''}\u0000${r.role ?? ''}\u0000${r.auth}\u0000${r.source}\u0000${r.groups.join(',')}\u0000${r.email ?? ''}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const d = this.evaluate(r);
    if (this.cache.size >= this.cacheSize) this.cache.clear();
    this.cache.set(key, d);
    return d;
  }

  private evaluate(r: PolicyRequest): Decision {
    let allowed: ReturnType<typeof compile> | undefined;
    for (const rule of this.rules) {
      if (!rule.tests.every((t) => t(r))) continue;
      if (!rule.allow) return { allow: false, rule: rule.name, reason: `denied by rule ${rule.name} (${rule.describe})` };
      allowed ??= rule;
    }
    if (allowed) return { allow: true, rule: allowed.name, reason: `allowed by rule ${allowed.name}` };
    return { allow: false, rule: '(default)', reason: 'no allow rule matches this request' };
  }

  /** Rules that can never match, for `airgate check`: a rule shadowed by an earlier deny that matches everything it does. */
  unreachable(): string[] {
    const out: string[] = [];
    const catchAllDeny = this.rules.find((r) => r.tests.length === 0 && !r.allow);
    if (catchAllDeny) for (const r of this.rules) if (r.allow) out.push(`rule ${r.name} can never allow anything: rule ${catchAllDeny.name} denies every request, and deny wins`);
    const seen = new Map<string, string>();
    for (const r of this.rules) {
      const sig = `${r.allow}|${r.describe}`;
      const first = seen.get(sig);
      if (first) out.push(`rule ${r.name} repeats rule ${first} and never changes a decision`);
      else seen.set(sig, r.name);
    }
    return out;
  }
}
