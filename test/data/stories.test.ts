import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateStories, writeDemoCorpus } from '../../src/data/stories.js';

/** Split after . ! ? (and a closing quote) where the next sentence starts with a capital or a quote. */
function sentences(story: string): string[] {
  return story.split(/(?<=[.!?]"?)\s+(?=["A-Z])/);
}

const PRONOUN_OF_NAME: Record<string, 'f' | 'm'> = {};
for (const n of ['Lily', 'Mia', 'Emma', 'Sara', 'Anna', 'Lucy', 'Zoe', 'Ella', 'Ruby', 'Nora', 'Ivy', 'Maya', 'Rosa', 'Daisy', 'Hana', 'Amy', 'Kate']) PRONOUN_OF_NAME[n] = 'f';
for (const n of ['Tom', 'Ben', 'Sam', 'Max', 'Leo', 'Jack', 'Finn', 'Noah', 'Oscar', 'Hugo', 'Eli', 'Theo', 'Omar', 'Kai', 'Jonah', 'Tim', 'Bob']) PRONOUN_OF_NAME[n] = 'm';

describe('demo stories', () => {
  const stories = generateStories(3000, 42);

  it('is deterministic by seed, and a longer run extends a shorter one', () => {
    assert.deepEqual(generateStories(50, 42), stories.slice(0, 50));
    const other = generateStories(50, 43);
    assert.notDeepEqual(other, stories.slice(0, 50));
    assert.ok(new Set(stories).size > 2900, 'stories are nearly all distinct');
  });

  it('has 3 to 8 sentences per story, each capitalized and ending with punctuation', () => {
    const lengths = new Set<number>();
    for (const s of stories) {
      const parts = sentences(s);
      assert.ok(parts.length >= 3 && parts.length <= 8, `${parts.length} sentences: ${s}`);
      lengths.add(parts.length);
      for (const p of parts) {
        assert.match(p, /^"?[A-Z]/, `sentence starts with a capital: ${p}`);
        assert.match(p, /[.!?]"?$/, `sentence ends with punctuation: ${p}`);
      }
    }
    assert.deepEqual([...lengths].sort(), [3, 4, 5, 6, 7, 8]);
  });

  it('leaves no placeholders, doubled spaces or wrong articles', () => {
    for (const s of stories) {
      assert.doesNotMatch(s, /[{}]/, s);
      assert.doesNotMatch(s, /undefined|null|NaN/, s);
      assert.doesNotMatch(s, / {2}|\s[,.!?]/, s);
      assert.doesNotMatch(s, /\b[Aa] [aeiou]/, s);
      assert.doesNotMatch(s, /\b[Aa]n [^aeiouAEIOU]/, s);
    }
  });

  it('has a vocabulary of a few hundred words with a long tail', () => {
    const counts = new Map<string, number>();
    for (const s of stories) for (const w of s.toLowerCase().match(/[a-z']+/g) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
    assert.ok(counts.size >= 300 && counts.size <= 1500, `vocabulary ${counts.size}`);
    const rare = [...counts.values()].filter((c) => c < 100).length;
    assert.ok(rare > 50, `${rare} words occur fewer than 100 times`);
  });

  it('follows the plot and keeps pronouns agreeing with the hero', () => {
    let checked = 0;
    for (const s of stories) {
      // The hero is the first named character ("... named X" or the first name of the story).
      const hero = /named (\w+)/.exec(s)?.[1];
      assert.ok(hero && PRONOUN_OF_NAME[hero], `hero found in: ${s}`);
      const parts = sentences(s);
      // The problem sentence comes right after the want sentence, and refers to the hero by pronoun
      // when it refers to the hero at all: "she"/"her" for girls' names, "he"/"his" for boys'.
      const wrong = PRONOUN_OF_NAME[hero] === 'f' ? /\b(he|his|him|himself)\b/i : /\b(she|her|herself)\b/i;
      const problemIdx = parts.findIndex((p) => /wanted to|went to|took|went out/.test(p)) + 1;
      assert.ok(problemIdx > 0 && problemIdx < parts.length, s);
      const problem = parts[problemIdx];
      if (!/"/.test(problem)) {
        assert.doesNotMatch(problem, wrong, `pronoun of ${hero} in: ${problem}`);
        checked++;
      }
      assert.match(parts[parts.length - 1] + parts[parts.length - 2], /happy|glad|proud|thankful|excited|joyful|smile|joy|thank|friends|best day|careful|sleep|dinner|play/i, s);
    }
    assert.ok(checked > 2000);
  });

  it('writes a corpus file with <|endoftext|> lines between stories', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ternlm-stories-'));
    try {
      const { path, bytes } = writeDemoCorpus(join(dir, 'sub'), { stories: 20, seed: 5 });
      const text = readFileSync(path, 'utf8');
      assert.equal(Buffer.byteLength(text), bytes);
      const docs = text.split('\n<|endoftext|>\n');
      assert.equal(docs.pop(), '');
      assert.deepEqual(docs, generateStories(20, 5));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
