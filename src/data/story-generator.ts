// The built-in demo corpus: simple children's stories from a small template grammar, so that
// `ternlm train` with no arguments has something to learn without a download.
//
// Every story follows one plot: a hero wants to do something with a thing, a problem gets in
// the way, a friend helps, and it ends happily. Sentences are past tense; pronouns agree with
// the hero's and the friend's names. A story has 3 to 8 sentences: three are always there
// (want, problem, help) and the rest are optional slots picked at random.
//
// Browser-safe: the page of `ternlm serve` trains on these stories in the tab; stories.ts writes
// them to a file for `ternlm train`.
import { Rng } from '../core/rng.js';
import { EOT_TEXT } from './pretokenize.js';

// ---------------------------------------------------------------- word lists

type Gender = 'f' | 'm';
const NAMES: Record<Gender, readonly string[]> = {
  f: ['Lily', 'Mia', 'Emma', 'Sara', 'Anna', 'Lucy', 'Zoe', 'Ella', 'Ruby', 'Nora', 'Ivy', 'Maya', 'Rosa', 'Daisy', 'Hana', 'Amy', 'Kate'],
  m: ['Tom', 'Ben', 'Sam', 'Max', 'Leo', 'Jack', 'Finn', 'Noah', 'Oscar', 'Hugo', 'Eli', 'Theo', 'Omar', 'Kai', 'Jonah', 'Tim', 'Bob'],
};
const CHILD: Record<Gender, readonly string[]> = { f: ['girl'], m: ['boy'] };
const ANIMALS = ['rabbit', 'bunny', 'fox', 'bear', 'cat', 'dog', 'puppy', 'kitten', 'mouse', 'duck', 'owl', 'squirrel',
  'frog', 'pig', 'lamb', 'turtle', 'hedgehog', 'deer', 'goat', 'elephant', 'lion', 'monkey', 'giraffe', 'bird', 'horse', 'cow'];
const CHARACTER_ADJ = ['little', 'small', 'kind', 'happy', 'curious', 'brave', 'shy', 'clever', 'gentle', 'funny',
  'friendly', 'young', 'tiny', 'playful', 'quiet', 'busy', 'cheerful', 'silly', 'sleepy', 'strong'];
const PLACES = ['the park', 'the forest', 'the garden', 'the beach', 'the farm', 'the meadow', 'the big hill',
  'the backyard', 'the village', 'the playground', 'the field', 'the woods', 'the yard behind the house'];
const TIMES = ['One day', 'One sunny morning', 'One windy afternoon', 'One summer day', 'Early one morning',
  'One cold winter day', 'After lunch', 'On a bright spring day', 'One evening', 'Last Saturday'];
const SAD = ['sad', 'upset', 'worried', 'scared', 'unhappy', 'lonely', 'angry'];
const HAPPY = ['happy', 'glad', 'proud', 'thankful', 'excited', 'joyful'];
const HOBBIES = ['sing songs', 'draw pictures', 'run very fast', 'jump in puddles', 'look at the stars', 'pick flowers',
  'eat apples', 'dance in the rain', 'count the clouds', 'build sandcastles', 'climb trees', 'listen to stories',
  'play hide and seek', 'bake cookies with grandma', 'watch the birds'];
const HOMES = ['a small house', 'a cozy hole under a tree', 'a little cottage', 'a big red barn', 'a warm nest',
  'a blue house by the river', 'a tiny cave on the hill'];
const FAMILY = ['mom', 'dad', 'grandma', 'grandpa', 'big sister', 'little brother', 'mom and dad', 'family'];
const THING_ADJ = ['red', 'blue', 'yellow', 'green', 'shiny', 'new', 'old', 'little', 'big', 'striped', 'soft', 'orange', 'purple'];

type Problem = 'stuck' | 'lost' | 'broken' | 'water';

/** A thing the hero wants to use: its noun, what one does with it ({his} = the hero's), and what can go wrong. */
interface Thing {
  noun: string;
  activities: readonly string[];
  problems: readonly Problem[];
}
const THINGS: readonly Thing[] = [
  { noun: 'kite', activities: ['fly {his} kite', 'play with {his} kite'], problems: ['stuck', 'broken', 'water'] },
  { noun: 'ball', activities: ['play with {his} ball', 'kick {his} ball', 'throw {his} ball'], problems: ['stuck', 'lost', 'water'] },
  { noun: 'balloon', activities: ['play with {his} balloon'], problems: ['stuck', 'water'] },
  { noun: 'toy boat', activities: ['sail {his} toy boat'], problems: ['broken', 'water', 'lost'] },
  { noun: 'book', activities: ['read {his} book', 'look at the pictures in {his} book'], problems: ['lost'] },
  { noun: 'hat', activities: ['wear {his} hat', 'show everyone {his} hat'], problems: ['stuck', 'water', 'lost'] },
  { noun: 'toy car', activities: ['play with {his} toy car', 'race {his} toy car'], problems: ['broken', 'lost'] },
  { noun: 'wagon', activities: ['pull {his} wagon', 'ride in {his} wagon'], problems: ['broken'] },
  { noun: 'drum', activities: ['play {his} drum'], problems: ['broken', 'lost'] },
  { noun: 'teddy bear', activities: ['play with {his} teddy bear', 'have a picnic with {his} teddy bear'], problems: ['lost', 'stuck', 'water'] },
  { noun: 'frisbee', activities: ['throw {his} frisbee', 'play catch with {his} frisbee'], problems: ['stuck', 'water', 'lost'] },
  { noun: 'bike', activities: ['ride {his} bike'], problems: ['broken'] },
  { noun: 'scarf', activities: ['wear {his} scarf'], problems: ['stuck', 'lost'] },
  { noun: 'basket', activities: ['pick berries with {his} basket', 'fill {his} basket with flowers'], problems: ['lost', 'broken'] },
  { noun: 'shovel', activities: ['dig a hole with {his} shovel'], problems: ['broken', 'lost'] },
];

// ---------------------------------------------------------------- sentence templates
// Placeholders: {Hero} / {Friend} (the full introduction the first time, the name after),
// {name}, {fname}, {he} {him} {his} {himself} (hero), {fhe} {fhim} {fhis} (friend), {thing},
// {adj} (of the thing), {place}, {time}, {activity}, {sad}, {happy}, plus picks from the lists
// above ({hobby}, {home}, {family}). A sentence's first letter is capitalized afterwards.

// INTRO and DETAIL draw on different facts, so that both in one story never repeat each other.
const INTRO = [
  'once upon a time, there was {Hero}.',
  'once upon a time, {Hero} lived near {place}.',
  'long ago, in a quiet little town, there lived {Hero}.',
  'there once was {Hero} who lived by a big old tree.',
];
const DETAIL = [
  '{he} lived in {home} with {his} {family}.',
  'every day, {he} liked to {hobby}.',
  '{he} had {a_adj} {thing} that {he} loved very much.',
  '{name} was very good at making friends.',
  'more than anything, {name} loved to {hobby}.',
];
const WANT = [
  '{time}, {Hero} wanted to {activity} in {place}.',
  '{time}, {Hero} went to {place} to {activity}.',
  '{time}, {Hero} took {his} {adj} {thing} to {place}.',
  '{time}, the sun was shining, so {Hero} went out to {activity}.',
];
const PROBLEM: Record<Problem, readonly string[]> = {
  stuck: [
    'but a strong wind blew the {thing} up into a tall tree.',
    'suddenly, the {thing} got stuck on the roof of an old barn.',
    'then the {thing} flew over a high fence and got stuck on top of it.',
    'but the {thing} landed in a thorny bush, high up where {he} could not reach it.',
  ],
  lost: [
    'but after a while, {he} could not find {his} {thing} anywhere.',
    'when {he} looked around, the {thing} was gone.',
    '{he} put the {thing} down to rest, and when {he} came back, it was not there.',
  ],
  broken: [
    'but the {thing} hit a big rock and broke.',
    'suddenly, there was a loud crack, and the {thing} was broken.',
    'then {he} dropped the {thing}, and one part of it came off.',
  ],
  water: [
    'but the wind blew the {thing} into a deep pond.',
    'oh no, the {thing} rolled down the hill and fell into the river.',
    'then the {thing} slipped away and floated out on the lake.',
  ],
};
const FEELING = [
  '{name} felt very {sad}.',
  '{name} sat down on the grass and began to cry.',
  '"Oh no, what will I do now?" cried {name}.',
  '{he} did not know what to do, and {he} felt {sad}.',
  '{name} tried hard, but {he} could not do it by {himself}.',
];
const ARRIVE = [
  'just then, {Friend} came walking by.',
  'soon, {Friend} heard {him} and came to see what was wrong.',
  'a moment later, {Friend} ran over from the other side of {place}.',
];
const ASK = [
  '"Can you help me, please?" asked {name}.',
  '"Please, can you help me with my {thing}?" asked {name}.',
  '"Don\'t be {sad}, I will help you," said {Friend}.',
  '"I know what to do!" said {Friend} with a smile.',
];
/** The help: no final punctuation, since the happy ending may be joined to it. */
const SOLVE: Record<Problem, readonly string[]> = {
  stuck: [
    '{Friend} climbed up carefully and brought the {thing} down',
    '{Friend} found a long stick and gently pushed the {thing} down',
    '{Friend} stood on a big rock, reached up high and got the {thing}',
  ],
  lost: [
    '{Friend} helped {him} look, and they found the {thing} under a pile of leaves',
    '{Friend} looked behind the old shed and found the {thing} there',
    '{Friend} searched in the tall grass until {fhe} found the {thing}',
    '{Friend} remembered seeing the {thing} next to a big rock, and there it was',
  ],
  broken: [
    '{Friend} fixed the {thing} with some glue',
    '{Friend} tied the pieces together with a strong string, and soon the {thing} was as good as new',
    '{Friend} brought some tape from {fhis} house and they fixed the {thing} together',
  ],
  water: [
    '{Friend} swam out and pushed the {thing} back to the shore',
    '{Friend} used a long net to pull the {thing} out of the water',
    '{Friend} waded into the cold water and carried the {thing} back',
  ],
};
const HAPPY_AGAIN = [', and {name} was {happy} again.', ', and {name} smiled from ear to ear.', ', and {name} jumped for joy.'];
const END = [
  '{name} hugged {Friend} and said, "Thank you so much!"',
  '{name} thanked {Friend}, and they played together until the sun went down.',
  'from that day on, {name} and {Friend} were best friends.',
  '{name} felt {happy} and thanked {Friend} with a big smile.',
  'then {name} and {Friend} went home together for a warm dinner.',
];
const MORAL = [
  '{name} learned that friends always help each other.',
  'it was the best day ever.',
  'that night, {name} went to sleep with a smile on {his} face.',
  '{name} learned to be more careful with {his} {thing}.',
  'the next day, {name} and {Friend} came back to play again.',
];

// ---------------------------------------------------------------- rendering

interface Character {
  name: string;
  gender: Gender;
  kind: string;
  adj: string;
  /** The full introduction used at the first mention. */
  intro: string;
}

const PRONOUNS: Record<Gender, { he: string; him: string; his: string; himself: string }> = {
  f: { he: 'she', him: 'her', his: 'her', himself: 'herself' },
  m: { he: 'he', him: 'him', his: 'his', himself: 'himself' },
};

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

function makeCharacter(rng: Rng, avoid: string): { name: string; gender: Gender; kind: string; adj: string } {
  const gender: Gender = rng.next() < 0.5 ? 'f' : 'm';
  let name = pick(rng, NAMES[gender]);
  while (name === avoid) name = pick(rng, NAMES[gender]);
  const kind = rng.next() < 0.4 ? pick(rng, CHILD[gender]) : pick(rng, ANIMALS);
  return { name, gender, kind, adj: pick(rng, CHARACTER_ADJ) };
}

function capitalize(s: string): string {
  // The first letter, even after an opening quote.
  return s.replace(/^("?)([a-z])/, (_, q: string, c: string) => q + c.toUpperCase());
}

/** "a" before a consonant sound, "an" before a vowel (our word lists have no "uni-"/"hour" traps). */
function fixArticles(s: string): string {
  return s.replace(/\b([Aa]) (?=[aeiouAEIOU])/g, '$1n ');
}

/** One story: 3 to 8 sentences, one paragraph. */
function generateStory(rng: Rng): string {
  const h = makeCharacter(rng, '');
  const f = makeCharacter(rng, h.name);
  const hp = PRONOUNS[h.gender], fp = PRONOUNS[f.gender];
  const hero: Character = { ...h, intro: `a ${h.adj} ${h.kind} named ${h.name}` };
  const friendIntro = f.kind === 'girl' || f.kind === 'boy'
    ? pick(rng, [`${hp.his} friend ${f.name}`, `a ${f.adj} ${f.kind} named ${f.name}`])
    : pick(rng, [`${hp.his} friend ${f.name} the ${f.kind}`, `a ${f.adj} ${f.kind} named ${f.name}`]);
  const friend: Character = { ...f, intro: friendIntro };
  const thing = pick(rng, THINGS);
  const problem = pick(rng, thing.problems);
  const mentioned = new Set<Character>();
  const mention = (c: Character): string => {
    if (mentioned.has(c)) return c.name;
    mentioned.add(c);
    return c.intro;
  };
  const fixed: Record<string, string> = {
    name: h.name, fname: f.name, ...hp, fhe: fp.he, fhim: fp.him, fhis: fp.his,
    thing: thing.noun, adj: pick(rng, THING_ADJ), place: pick(rng, PLACES), time: pick(rng, TIMES),
    sad: pick(rng, SAD), happy: pick(rng, HAPPY), hobby: pick(rng, HOBBIES), home: pick(rng, HOMES), family: pick(rng, FAMILY),
  };
  fixed.a_adj = `a ${fixed.adj}`;
  fixed.activity = fill(pick(rng, thing.activities), fixed, mention, hero, friend);

  // Which optional slots this story has: a target length, then that many slots at random.
  const optional = ['intro', 'detail', 'feeling', 'arrive', 'ask', 'end', 'moral'];
  for (let i = optional.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [optional[i], optional[j]] = [optional[j], optional[i]];
  }
  const length = 3 + rng.int(6);
  const has = new Set(optional.slice(0, length - 3));
  if (has.has('detail') && !has.has('intro')) {
    // A detail about the hero reads oddly before the hero is introduced: make it the introduction.
    has.delete('detail');
    has.add('intro');
  }

  const parts: string[] = [];
  const say = (template: string): void => {
    parts.push(capitalize(fill(template, fixed, mention, hero, friend)));
  };
  if (has.has('intro')) say(pick(rng, INTRO));
  if (has.has('detail')) say(pick(rng, DETAIL));
  say(pick(rng, WANT));
  say(pick(rng, PROBLEM[problem]));
  if (has.has('feeling')) say(pick(rng, FEELING));
  if (has.has('arrive')) say(pick(rng, ARRIVE));
  if (has.has('ask')) say(pick(rng, ASK));
  say(pick(rng, SOLVE[problem]) + (has.has('end') ? '.' : pick(rng, HAPPY_AGAIN)));
  if (has.has('end')) say(pick(rng, END));
  if (has.has('moral')) say(pick(rng, MORAL));
  return fixArticles(parts.join(' '));
}

function fill(
  template: string, values: Record<string, string>, mention: (c: Character) => string, hero: Character, friend: Character,
): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    if (key === 'Hero') return mention(hero);
    if (key === 'Friend') return mention(friend);
    const v = values[key];
    if (v === undefined) throw new Error(`story template uses unknown placeholder {${key}}: ${template}`);
    return v;
  });
}

/** `count` stories, the same for the same seed (and a prefix of any longer run with that seed). */
export function generateStories(count: number, seed: number): string[] {
  if (!Number.isInteger(count) || count < 0) throw new Error(`story count must be a non-negative integer, got ${count}`);
  const rng = new Rng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(generateStory(rng));
  return out;
}

/** Stories as one text: each followed by a line holding `<|endoftext|>` (TinyStories' layout). */
export function storiesText(stories: readonly string[]): string {
  return stories.map((s) => `${s}\n${EOT_TEXT}\n`).join('');
}
