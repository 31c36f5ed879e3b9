import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateMinimalPairs, PARADIGM_IDS, writeMinimalPairsJsonl, type MinimalPair } from '../../bench/minimal-pairs.js';

// The checks below use their own small English rules (how a plural noun looks, which pronoun
// forms pair up), not the generator's word lists, so that they can catch it being wrong.

const P = PARADIGM_IDS.length;
const SAMPLE = generateMinimalPairs(P * 150, 5);

function words(s: string): string[] {
  assert.ok(s.endsWith('.'), s);
  return s.slice(0, -1).split(' ');
}

/** Where good and bad differ: the words of each between their common start and common end. */
function diff(p: MinimalPair): { g: string[]; b: string[]; at: number; good: string[]; bad: string[] } {
  const g = words(p.sentence_good), b = words(p.sentence_bad);
  let pre = 0;
  while (pre < g.length && pre < b.length && g[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < g.length - pre && suf < b.length - pre && g[g.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  return { g, b, at: pre, good: g.slice(pre, g.length - suf), bad: b.slice(pre, b.length - suf) };
}

/** One word swapped: returns [index, good word, bad word]. */
function oneWord(p: MinimalPair): [number, string, string, string[]] {
  const d = diff(p);
  assert.equal(d.good.length, 1, `${p.sentence_good} / ${p.sentence_bad}`);
  assert.equal(d.bad.length, 1, `${p.sentence_good} / ${p.sentence_bad}`);
  return [d.at, d.good[0], d.bad[0], d.g];
}

const IRREGULAR_PLURALS = new Set(['mice', 'children', 'men', 'women', 'geese', 'people', 'feet', 'teeth']);
function isPluralNoun(w: string): boolean {
  w = w.toLowerCase();
  return IRREGULAR_PLURALS.has(w) || (w.endsWith('s') && !w.endsWith('ss'));
}
/** A subject is plural when it joins two with "and" or its last word (the head noun) is plural. */
function isPluralSubject(subject: string[]): boolean {
  return subject.includes('and') || isPluralNoun(subject[subject.length - 1]);
}
/** Present and past forms that go with a singular subject end in -s (is, was, has, likes). */
function isSingularVerb(v: string): boolean {
  return v.endsWith('s');
}

function of(uid: string): MinimalPair[] {
  const ps = SAMPLE.filter((p) => p.UID === uid);
  assert.ok(ps.length >= 100, `${uid}: ${ps.length} pairs in the sample`);
  return ps;
}

describe('generateMinimalPairs', () => {
  it('is the same for a seed, differs between seeds, and a shorter set is the start of a longer one', () => {
    const a = generateMinimalPairs(400, 42);
    assert.deepEqual(generateMinimalPairs(400, 42), a);
    assert.deepEqual(generateMinimalPairs(57, 42), a.slice(0, 57));
    const other = generateMinimalPairs(400, 43);
    assert.ok(other.filter((p, i) => p.sentence_good === a[i].sentence_good).length < 40);
    assert.deepEqual(generateMinimalPairs(0, 1), []);
    assert.throws(() => generateMinimalPairs(-1, 1), /count/);
    assert.throws(() => generateMinimalPairs(2.5, 1), /count/);
  });

  it('balances the paradigms (10 to 14 of them) within one pair', () => {
    assert.ok(P >= 10 && P <= 14, `${P} paradigms`);
    for (const count of [1000, 1003, 67]) {
      const n = new Map<string, number>(PARADIGM_IDS.map((x) => [x.UID, 0]));
      for (const p of generateMinimalPairs(count, 9)) n.set(p.UID, n.get(p.UID)! + 1);
      assert.equal(n.size, P, 'a UID outside PARADIGM_IDS');
      const counts = [...n.values()];
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${count}: ${counts}`);
    }
  });

  it('fills every field, in normal case with a final period, good and bad differing by one word at most', () => {
    const termOf = new Map(PARADIGM_IDS.map((x) => [x.UID, x.linguistics_term]));
    assert.equal(termOf.size, P, 'UIDs are unique');
    for (const p of SAMPLE) {
      assert.deepEqual(Object.keys(p), ['sentence_good', 'sentence_bad', 'UID', 'linguistics_term']);
      assert.match(p.UID, /^[a-z]+(_[a-z]+)*$/);
      assert.match(p.linguistics_term, /^[a-z]+(_[a-z]+)*$/);
      assert.equal(p.linguistics_term, termOf.get(p.UID));
      assert.notEqual(p.sentence_good, p.sentence_bad);
      for (const s of [p.sentence_good, p.sentence_bad]) {
        assert.match(s, /^[A-Z][a-zA-Z ]*[a-zA-Z]\.$/, s);
        assert.doesNotMatch(s, / {2}/, s);
      }
      const ng = words(p.sentence_good).length, nb = words(p.sentence_bad).length;
      assert.ok(Math.abs(ng - nb) <= 1 && ng >= 3 && ng <= 14, `${p.sentence_good} / ${p.sentence_bad}`);
    }
  });

  it('has no duplicate pairs in 5,000', () => {
    const ps = generateMinimalPairs(5000, 11);
    assert.equal(new Set(ps.map((p) => `${p.sentence_good}\n${p.sentence_bad}`)).size, 5000);
  });
});

describe('the paradigms', () => {
  it('verb_agrees_with_subject: the good verb has the number of the subject, the bad one the other', () => {
    let plural = 0;
    for (const p of of('verb_agrees_with_subject')) {
      const [at, good, bad, g] = oneWord(p);
      const pl = isPluralSubject(g.slice(0, at));
      if (pl) plural++;
      assert.equal(isSingularVerb(good), !pl, p.sentence_good);
      assert.equal(isSingularVerb(bad), pl, p.sentence_bad);
    }
    assert.ok(plural > 20 && plural < 130, `${plural} plural subjects`);
  });

  it('verb_agrees_across_prepositional_phrase: the verb agrees with the head noun, not with the nearer noun of the other number', () => {
    for (const p of of('verb_agrees_across_prepositional_phrase')) {
      const [at, good, , g] = oneWord(p);
      const prep = g.findIndex((w) => ['near', 'behind', 'next', 'with', 'under', 'beside'].includes(w));
      assert.ok(prep > 1 && prep < at - 1, p.sentence_good);
      const head = g[prep - 1], attractor = g[at - 1];
      assert.notEqual(isPluralNoun(head), isPluralNoun(attractor), p.sentence_good);
      assert.equal(isSingularVerb(good), !isPluralNoun(head), p.sentence_good);
    }
  });

  it('verb_agrees_across_relative_clause: the verb after the clause agrees with the noun before "that"/"who"', () => {
    for (const p of of('verb_agrees_across_relative_clause')) {
      const [at, good, , g] = oneWord(p);
      const rel = g.findIndex((w) => w === 'that' || w === 'who');
      assert.ok(rel > 1 && rel < at - 1, p.sentence_good);
      assert.equal(isSingularVerb(good), !isPluralNoun(g[rel - 1]), p.sentence_good);
    }
  });

  it('there_is_are_agreement: is/was before a, an or one; are/were before a plural', () => {
    for (const p of of('there_is_are_agreement')) {
      const [at, good, bad, g] = oneWord(p);
      assert.equal(g[0], 'There');
      assert.equal(at, 1);
      const singular = ['a', 'an', 'one'].includes(g[2]);
      assert.equal(['is', 'was'].includes(good), singular, p.sentence_good);
      assert.equal(bad, { is: 'are', are: 'is', was: 'were', were: 'was' }[good], p.sentence_bad);
    }
  });

  it('demonstrative_noun_number: this/that with a singular noun, these/those with a plural one', () => {
    for (const p of of('demonstrative_noun_number')) {
      const [, good, bad, g] = oneWord(p);
      const noun = g[g.length - 1];
      assert.equal(['this', 'that'].includes(good), !isPluralNoun(noun), p.sentence_good);
      assert.equal(bad, { this: 'these', these: 'this', that: 'those', those: 'that' }[good], p.sentence_bad);
    }
  });

  it('a_or_an_before_noun: "an" before a vowel, "a" before a consonant, both kinds present', () => {
    const seen = { a: 0, an: 0 };
    for (const p of of('a_or_an_before_noun')) {
      const [at, good, bad, g] = oneWord(p);
      const next = g[at + 1];
      assert.equal(good, /^[aeiou]/.test(next) ? 'an' : 'a', p.sentence_good);
      assert.equal(bad, good === 'a' ? 'an' : 'a');
      if (['apple', 'egg', 'owl', 'elephant', 'old', 'orange'].includes(next)) assert.equal(good, 'an', p.sentence_good);
      if (['ball', 'cat', 'dog', 'big', 'little', 'red'].includes(next)) assert.equal(good, 'a', p.sentence_good);
      seen[good as 'a' | 'an']++;
    }
    assert.ok(seen.a > 30 && seen.an > 30, JSON.stringify(seen));
  });

  it('reflexive_matches_antecedent: themselves after a plural subject, himself/herself after a boy/girl', () => {
    const VERBS = new Set(['hurt', 'washed', 'saw', 'dried', 'made', 'taught', 'looked', 'was', 'were', 'covered', 'helped']);
    const FEMALE = new Set(['girl', 'queen', 'princess', 'woman', 'Lily', 'Mia', 'Anna', 'Lucy', 'Emma', 'Sara', 'Zoe']);
    const MALE = new Set(['boy', 'king', 'prince', 'man', 'Tom', 'Ben', 'Sam', 'Max', 'Tim', 'Jack', 'Bob']);
    const REFL = ['himself', 'herself', 'themselves'];
    let gendered = 0;
    for (const p of of('reflexive_matches_antecedent')) {
      const [at, good, bad, g] = oneWord(p);
      assert.ok(REFL.includes(good) && REFL.includes(bad), `${good} / ${bad}`);
      const verb = g.findIndex((w) => VERBS.has(w));
      assert.ok(verb > 0 && verb < at, `no known verb in "${p.sentence_good}"`);
      const subj = g.slice(0, verb);
      assert.equal(good === 'themselves', isPluralSubject(subj), p.sentence_good);
      const head = subj[subj.length - 1];
      if (!isPluralSubject(subj) && (FEMALE.has(head) || MALE.has(head))) {
        assert.equal(good, FEMALE.has(head) ? 'herself' : 'himself', p.sentence_good);
        gendered++;
      }
    }
    assert.ok(gendered > 20, `${gendered} gendered subjects checked`);
  });

  it('irregular_past_tense: the good verb is the irregular past, the bad one a made-up -ed form', () => {
    const WRONG: Record<string, string> = { ate: 'eated', ran: 'runned', found: 'finded', took: 'taked', swam: 'swimmed', caught: 'catched', broke: 'breaked', threw: 'throwed', sat: 'sitted' };
    let known = 0;
    for (const p of of('irregular_past_tense')) {
      const [, good, bad] = oneWord(p);
      // Irregular pasts that happen to end in -ed: fed, led, fled, bled, sped.
      assert.ok(bad.endsWith('ed') && (!good.endsWith('ed') || ['fed', 'led', 'fled', 'bled', 'sped'].includes(good)), `${good} / ${bad}`);
      if (good in WRONG) {
        assert.equal(bad, WRONG[good]);
        known++;
      }
    }
    assert.ok(known > 10, `${known} hand-checked`);
  });

  it('past_participle_after_have: has/have/had + participle, has with a singular subject, have with a plural', () => {
    const PART: Record<string, string> = { ate: 'eaten', ran: 'run', saw: 'seen', swam: 'swum', broke: 'broken', took: 'taken', wrote: 'written', fell: 'fallen', drank: 'drunk', sang: 'sung' };
    let known = 0;
    for (const p of of('past_participle_after_have')) {
      const [at, good, bad, g] = oneWord(p);
      const have = g[at - 1];
      assert.ok(['has', 'have', 'had'].includes(have), p.sentence_good);
      if (have !== 'had') assert.equal(have === 'has', !isPluralSubject(g.slice(0, at - 1)), p.sentence_good);
      if (bad in PART) {
        assert.equal(good, PART[bad]);
        known++;
      }
    }
    assert.ok(known > 20, `${known} hand-checked`);
  });

  it('bare_verb_after_auxiliary: after did not, can, wanted to... the base form is good and the past bad', () => {
    const PAST: Record<string, string> = { eat: 'ate', run: 'ran', find: 'found', see: 'saw', play: 'played', jump: 'jumped', make: 'made', sleep: 'slept', fly: 'flew', feed: 'fed' };
    const AUX = ['did not', 'could not', 'would not', 'will', 'can', 'wanted to', 'had to'];
    let known = 0;
    for (const p of of('bare_verb_after_auxiliary')) {
      const [at, good, bad, g] = oneWord(p);
      const before = g.slice(0, at).join(' ');
      assert.ok(AUX.some((a) => before.endsWith(' ' + a)), p.sentence_good);
      assert.ok(!Object.values(PAST).includes(good), p.sentence_good);
      if (good in PAST) {
        assert.equal(bad, PAST[good]);
        known++;
      }
    }
    assert.ok(known > 10, `${known} hand-checked`);
  });

  it('pronoun_case: nominative as the subject, accusative as the object, the bad one the other case of the same pronoun', () => {
    const ACC: Record<string, string> = { i: 'me', he: 'him', she: 'her', we: 'us', they: 'them' };
    const NOM = Object.fromEntries(Object.entries(ACC).map(([n, a]) => [a, n]));
    const positions = { subject: 0, object: 0 };
    for (const p of of('pronoun_case')) {
      const [at, good, bad] = oneWord(p);
      const gl = good.toLowerCase(), bl = bad.toLowerCase();
      if (at === 0) {
        assert.equal(ACC[gl], bl, p.sentence_good);
        positions.subject++;
      } else {
        assert.equal(NOM[gl], bl, p.sentence_good);
        positions.object++;
      }
    }
    assert.ok(positions.subject > 30 && positions.object > 30, JSON.stringify(positions));
  });

  it('transitive_verb_needs_object: the bad sentence is the good one without its object', () => {
    for (const p of of('transitive_verb_needs_object')) {
      const d = diff(p);
      assert.equal(d.good.length, 1, p.sentence_good);
      assert.equal(d.bad.length, 0, p.sentence_bad);
      const obj = d.good[0];
      assert.ok(['it', 'them', 'him', 'her'].includes(obj) || /^[A-Z][a-z]+$/.test(obj), p.sentence_good);
      assert.ok(d.at >= 2, p.sentence_good);
    }
  });

  it('no_double_comparative: the bad sentence puts "more" before an -er comparative', () => {
    for (const p of of('no_double_comparative')) {
      const d = diff(p);
      assert.deepEqual(d.good, []);
      assert.deepEqual(d.bad, ['more']);
      const comp = d.b[d.at + 1];
      assert.ok(/er$/.test(comp) || comp === 'worse', p.sentence_bad);
      assert.equal(d.b[d.at + 2], 'than', p.sentence_bad);
      assert.equal(isSingularVerb(d.g[d.at - 1]), !isPluralSubject(d.g.slice(0, d.at - 1)), p.sentence_good);
    }
  });
});

describe('writeMinimalPairsJsonl', () => {
  it('writes one JSON object a line that reads back to the same pairs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ternlm-pairs-'));
    try {
      const path = join(dir, 'pairs.jsonl');
      const pairs = generateMinimalPairs(40, 3);
      writeMinimalPairsJsonl(path, pairs);
      const text = readFileSync(path, 'utf8');
      assert.ok(text.endsWith('}\n'));
      const lines = text.slice(0, -1).split('\n');
      assert.equal(lines.length, 40);
      assert.deepEqual(lines.map((l) => JSON.parse(l)), pairs);
      writeMinimalPairsJsonl(path, []);
      assert.equal(readFileSync(path, 'utf8'), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
