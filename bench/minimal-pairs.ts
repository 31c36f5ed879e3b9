// Our own English minimal pairs in the BLiMP file format (one JSON object a line with
// sentence_good, sentence_bad, UID and linguistics_term). This is NOT BLiMP: no sentence, word
// list or paradigm definition is taken from it. Every sentence comes from the small template
// grammar below, with children's-story words (names like Lily and Tom, pets, toys), so that a
// model trained on TinyStories-style text knows the vocabulary and only the grammar is tested.
//
// Each paradigm is one function of the rng that returns [good, bad] as word lists; the two
// differ only in the grammatical point (one word swapped, or one word added or left out).
// A set of pairs takes the paradigms in turn, so any count is balanced over them (±1), and a
// pair already drawn is drawn again (up to MAX_TRIES times) so that the set has no duplicates
// while the paradigm has unused pairs left.
import { TernlmError } from '../src/core/errors.js';
import { Rng } from '../src/core/rng.js';
import { writeFileAtomic } from '../src/io/atomic.js';

export interface MinimalPair {
  sentence_good: string;
  sentence_bad: string;
  UID: string;
  linguistics_term: string;
}

// ---------------------------------------------------------------- word lists

type Gender = 'f' | 'm';
/** [singular, plural] */
type Noun = readonly [string, string];

const NAMES: Record<Gender, readonly string[]> = {
  f: ['Lily', 'Mia', 'Sue', 'Anna', 'Lucy', 'Emma', 'Sara', 'Zoe', 'Amy', 'Kate', 'Jane', 'Molly', 'Daisy', 'Rose'],
  m: ['Tom', 'Ben', 'Sam', 'Max', 'Tim', 'Jack', 'Bob', 'Leo', 'Joe', 'Dan', 'Jake', 'Finn', 'Billy', 'Timmy'],
};
const ALL_NAMES = [...NAMES.f, ...NAMES.m];
/** People nouns with a gender (for reflexives) and without. */
const PEOPLE_GENDERED: ReadonlyArray<readonly [Noun, Gender]> = [
  [['girl', 'girls'], 'f'], [['boy', 'boys'], 'm'], [['queen', 'queens'], 'f'], [['king', 'kings'], 'm'],
  [['princess', 'princesses'], 'f'], [['prince', 'princes'], 'm'], [['woman', 'women'], 'f'], [['man', 'men'], 'm'],
];
const PEOPLE: readonly Noun[] = [
  ...PEOPLE_GENDERED.map(([n]) => n), ['child', 'children'], ['friend', 'friends'], ['kid', 'kids'], ['baby', 'babies'],
];
const ANIMALS: readonly Noun[] = [
  ['cat', 'cats'], ['dog', 'dogs'], ['bunny', 'bunnies'], ['fox', 'foxes'], ['bear', 'bears'], ['duck', 'ducks'],
  ['frog', 'frogs'], ['bird', 'birds'], ['puppy', 'puppies'], ['kitten', 'kittens'], ['mouse', 'mice'], ['pig', 'pigs'],
  ['owl', 'owls'], ['horse', 'horses'], ['cow', 'cows'], ['lion', 'lions'], ['monkey', 'monkeys'], ['squirrel', 'squirrels'],
  ['turtle', 'turtles'], ['goat', 'goats'], ['elephant', 'elephants'],
];
const THINGS: readonly Noun[] = [
  ['ball', 'balls'], ['kite', 'kites'], ['box', 'boxes'], ['toy', 'toys'], ['book', 'books'], ['cake', 'cakes'],
  ['cookie', 'cookies'], ['hat', 'hats'], ['flower', 'flowers'], ['car', 'cars'], ['boat', 'boats'], ['doll', 'dolls'],
  ['block', 'blocks'], ['shell', 'shells'], ['leaf', 'leaves'], ['rock', 'rocks'], ['cup', 'cups'], ['drum', 'drums'],
  ['balloon', 'balloons'], ['apple', 'apples'], ['egg', 'eggs'], ['orange', 'oranges'], ['umbrella', 'umbrellas'],
];
const BEINGS = [...PEOPLE, ...ANIMALS];
const NOUNS = [...BEINGS, ...THINGS];
/** Adjectives before a noun: for any noun, for people and animals, for things. */
const SIZE_ADJ = ['little', 'big', 'small', 'tiny', 'old'];
const BEING_ADJ = [...SIZE_ADJ, 'young', 'funny', 'brave', 'kind', 'silly', 'angry', 'ugly'];
const THING_ADJ = [...SIZE_ADJ, 'red', 'blue', 'green', 'yellow', 'shiny', 'soft', 'orange', 'empty', 'pretty', 'new'];
/** Adjectives after is/are (feelings and states of people and animals). */
const STATE_ADJ = ['happy', 'sad', 'hungry', 'tired', 'sleepy', 'scared', 'angry', 'excited', 'cold',
  'wet', 'quiet', 'kind', 'brave', 'funny', 'friendly', 'shy', 'busy', 'lonely', 'proud'];
const PLACES = [['in', 'the', 'garden'], ['in', 'the', 'park'], ['at', 'home'], ['by', 'the', 'river'],
  ['under', 'the', 'big', 'tree'], ['on', 'the', 'hill'], ['near', 'the', 'pond'], ['in', 'the', 'forest'],
  ['at', 'the', 'beach'], ['on', 'the', 'farm'], ['in', 'the', 'yard']];

/**
 * A verb: base, simple past, past participle (the past when left out), and a wrong
 * regularised past where one is a non-word (left out where it would be a real word, as "seed"),
 * with what may follow it.
 */
interface Verb {
  base: string;
  past: string;
  part?: string;
  wrong?: string;
  after: readonly string[];
}
const VERBS: readonly Verb[] = [
  { base: 'eat', past: 'ate', part: 'eaten', wrong: 'eated', after: ['the cake', 'an apple', 'a cookie', 'the soup', 'all the berries'] },
  { base: 'drink', past: 'drank', part: 'drunk', wrong: 'drinked', after: ['the milk', 'some juice', 'the warm tea'] },
  { base: 'take', past: 'took', part: 'taken', wrong: 'taked', after: ['the ball', 'a cookie', 'the toy car', 'a nap'] },
  { base: 'give', past: 'gave', part: 'given', wrong: 'gived', after: ['the dog a bone', 'the baby a toy', 'the bird some bread', 'mom a big hug'] },
  { base: 'break', past: 'broke', part: 'broken', wrong: 'breaked', after: ['the cup', 'the window', 'a plate', 'the old chair'] },
  { base: 'throw', past: 'threw', part: 'thrown', wrong: 'throwed', after: ['the ball', 'a stick', 'the frisbee'] },
  { base: 'draw', past: 'drew', part: 'drawn', wrong: 'drawed', after: ['a picture', 'a big sun', 'a house', 'a cat'] },
  { base: 'write', past: 'wrote', part: 'written', wrong: 'writed', after: ['a letter', 'a story', 'a card'] },
  { base: 'ride', past: 'rode', part: 'ridden', wrong: 'rided', after: ['the bike', 'a horse', 'the train'] },
  { base: 'hide', past: 'hid', part: 'hidden', wrong: 'hided', after: ['the toy', 'the cookies', 'the key', 'under the bed'] },
  { base: 'swim', past: 'swam', part: 'swum', wrong: 'swimmed', after: ['in the lake', 'to the shore', 'across the pond'] },
  { base: 'run', past: 'ran', part: 'run', wrong: 'runned', after: ['to the park', 'home', 'very fast', 'around the tree'] },
  { base: 'fall', past: 'fell', part: 'fallen', wrong: 'falled', after: ['off the bike', 'into the pond', 'down the hill'] },
  { base: 'grow', past: 'grew', part: 'grown', wrong: 'growed', after: ['a big flower', 'some carrots', 'very tall'] },
  { base: 'know', past: 'knew', part: 'known', wrong: 'knowed', after: ['the answer', 'the way home', 'the song'] },
  { base: 'forget', past: 'forgot', part: 'forgotten', wrong: 'forgetted', after: ['the key', 'the cake', 'the way home'] },
  { base: 'choose', past: 'chose', part: 'chosen', wrong: 'choosed', after: ['the red ball', 'a book', 'a new hat'] },
  { base: 'bite', past: 'bit', part: 'bitten', wrong: 'bited', after: ['the apple', 'the carrot', 'the bone'] },
  { base: 'see', past: 'saw', part: 'seen', after: ['a rainbow', 'the big bird', 'a shooting star'] },
  { base: 'sing', past: 'sang', part: 'sung', after: ['a song', 'a happy song', 'very loudly'] },
  { base: 'fly', past: 'flew', part: 'flown', after: ['the kite', 'very high', 'over the hill'] },
  { base: 'find', past: 'found', wrong: 'finded', after: ['a ball', 'the key', 'a pretty shell'] },
  { base: 'make', past: 'made', wrong: 'maked', after: ['a cake', 'a sandcastle', 'a card for mom'] },
  { base: 'catch', past: 'caught', wrong: 'catched', after: ['the ball', 'a fish', 'the frisbee'] },
  { base: 'buy', past: 'bought', wrong: 'buyed', after: ['a toy', 'some apples', 'a new book'] },
  { base: 'bring', past: 'brought', wrong: 'bringed', after: ['a gift', 'the ball', 'some flowers'] },
  { base: 'hold', past: 'held', wrong: 'holded', after: ['the baby', 'the kite', 'a flower'] },
  { base: 'sleep', past: 'slept', wrong: 'sleeped', after: ['in the bed', 'all night', 'under the tree'] },
  { base: 'sit', past: 'sat', wrong: 'sitted', after: ['on the bench', 'by the fire', 'on the grass'] },
  { base: 'build', past: 'built', wrong: 'builded', after: ['a sandcastle', 'a tower', 'a little house'] },
  { base: 'feed', past: 'fed', wrong: 'feeded', after: ['the ducks', 'the cat', 'the birds'] },
  { base: 'tell', past: 'told', wrong: 'telled', after: ['a story', 'a joke', 'the truth'] },
  { base: 'win', past: 'won', wrong: 'winned', after: ['the race', 'a prize', 'the game'] },
  { base: 'dig', past: 'dug', wrong: 'digged', after: ['a hole', 'in the sand'] },
  { base: 'play', past: 'played', after: ['with the ball', 'in the park', 'a game'] },
  { base: 'jump', past: 'jumped', after: ['over the log', 'into the pool', 'very high'] },
  { base: 'climb', past: 'climbed', after: ['the tree', 'the hill', 'up the ladder'] },
  { base: 'kick', past: 'kicked', after: ['the ball', 'the can'] },
  { base: 'open', past: 'opened', after: ['the box', 'the door', 'the gift'] },
  { base: 'paint', past: 'painted', after: ['a picture', 'the fence', 'a rock'] },
  { base: 'clean', past: 'cleaned', after: ['the room', 'the car', 'the toys'] },
];
const IRREGULAR = VERBS.filter((v) => v.wrong !== undefined);
const PARTICIPLE_DIFFERS = VERBS.filter((v) => v.part !== undefined && v.part !== v.past);

// ---------------------------------------------------------------- helpers

type Words = string[];
type Paradigm = { UID: string; term: string; make: (rng: Rng) => [Words, Words] };

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

function coin(rng: Rng): boolean {
  return rng.int(2) === 0;
}

function split(phrase: string): Words {
  return phrase.split(' ');
}

/** "a" or "an" for the word that follows (every word in these lists is said as it is spelled). */
function article(next: string): string {
  return /^[aeiou]/.test(next) ? 'an' : 'a';
}

/** `a` and `b` with the word at `i` set to `good` and `bad`. */
function swap(words: Words, i: number, good: string, bad: string): [Words, Words] {
  const g = words.slice(), b = words.slice();
  g[i] = good;
  b[i] = bad;
  return [g, b];
}

function otherName(rng: Rng, not: string): string {
  let n = pick(rng, ALL_NAMES);
  while (n === not) n = pick(rng, ALL_NAMES);
  return n;
}

/** "the [adj] noun" of a number, from `nouns`, a third of the time with an adjective from `adjs`. */
function theNoun(rng: Rng, nouns: readonly Noun[], plural: boolean, adjs = BEING_ADJ): Words {
  const n = pick(rng, nouns)[plural ? 1 : 0];
  return rng.int(3) === 0 ? ['the', pick(rng, adjs), n] : ['the', n];
}

/** A subject of a number: a name, two names, or "the [adj] noun" of a person or animal. */
function subject(rng: Rng, plural: boolean): Words {
  if (rng.int(4) === 0) {
    const a = pick(rng, ALL_NAMES);
    return plural ? [a, 'and', otherName(rng, a)] : [a];
  }
  return theNoun(rng, BEINGS, plural);
}

/** A noun phrase object: "the/a [adj] thing" or "the things". */
function objectNp(rng: Rng): Words {
  const plural = coin(rng);
  const n = pick(rng, THINGS)[plural ? 1 : 0];
  const adj = rng.int(3) === 0 ? [pick(rng, THING_ADJ)] : [];
  const det = plural || coin(rng) ? 'the' : article(adj[0] ?? n);
  return [det, ...adj, n];
}

/** A present-tense verb phrase as [singular, plural] forms of its first word and the rest. */
function presentVp(rng: Rng): [string, string, Words] {
  switch (rng.int(4)) {
    case 0: return coin(rng) ? ['is', 'are', [pick(rng, STATE_ADJ)]] : ['was', 'were', [pick(rng, STATE_ADJ)]];
    case 1: {
      const [sg, pl] = pick(rng, [['likes', 'like'], ['wants', 'want'], ['sees', 'see'], ['loves', 'love'], ['needs', 'need'], ['has', 'have']] as const);
      return [sg, pl, objectNp(rng)];
    }
    case 2: {
      const [sg, pl] = pick(rng, [['plays', 'play'], ['sleeps', 'sleep'], ['sings', 'sing'], ['runs', 'run'], ['jumps', 'jump'], ['sits', 'sit']] as const);
      return [sg, pl, pick(rng, PLACES)];
    }
    default: return coin(rng) ? ['is', 'are', ['in', 'the', pick(rng, ['garden', 'house', 'box', 'car', 'yard'])]] : ['was', 'were', [pick(rng, STATE_ADJ)]];
  }
}

/** Subject, verb agreeing with it (good) or not (bad), the rest: the shape of the agreement paradigms. */
function agreement(subj: Words, plural: boolean, vp: [string, string, Words]): [Words, Words] {
  const [sg, pl, rest] = vp;
  return swap([...subj, '', ...rest], subj.length, plural ? pl : sg, plural ? sg : pl);
}

function pronounCaseSwap(rng: Rng, words: Words, i: number, subjectPosition: boolean): [Words, Words] {
  const [nom, acc] = pick(rng, PRONOUNS);
  return subjectPosition ? swap(words, i, nom, acc) : swap(words, i, acc, nom);
}
const PRONOUNS = [['I', 'me'], ['he', 'him'], ['she', 'her'], ['we', 'us'], ['they', 'them']] as const;

const REFLEXIVE = { f: 'herself', m: 'himself', pl: 'themselves' } as const;
type Antecedent = keyof typeof REFLEXIVE;

/** A subject for a reflexive and which reflexive it takes. */
function antecedent(rng: Rng): [Words, Antecedent] {
  const kind: Antecedent = pick(rng, ['f', 'm', 'pl'] as const);
  if (kind === 'pl') {
    if (rng.int(3) === 0) {
      const a = pick(rng, ALL_NAMES);
      return [[a, 'and', otherName(rng, a)], kind];
    }
    return [theNoun(rng, BEINGS, true), kind];
  }
  if (coin(rng)) return [[pick(rng, NAMES[kind])], kind];
  const nouns = PEOPLE_GENDERED.filter(([, g]) => g === kind).map(([n]) => n);
  return [theNoun(rng, nouns, false), kind];
}

// ---------------------------------------------------------------- paradigms

const PARADIGMS: readonly Paradigm[] = [
  {
    // The cats are happy. / The cats is happy.
    UID: 'verb_agrees_with_subject',
    term: 'subject_verb_agreement',
    make(rng) {
      const plural = coin(rng);
      return agreement(subject(rng, plural), plural, presentVp(rng));
    },
  },
  {
    // The cat near the trees is happy. / The cat near the trees are happy.
    UID: 'verb_agrees_across_prepositional_phrase',
    term: 'subject_verb_agreement',
    make(rng) {
      const plural = coin(rng);
      const head = theNoun(rng, BEINGS, plural);
      const pp = [...split(pick(rng, ['near', 'behind', 'next to', 'with', 'under', 'beside'])), ...theNoun(rng, NOUNS, !plural, SIZE_ADJ)];
      return agreement([...head, ...pp], plural, presentVp(rng));
    },
  },
  {
    // The boys that Lily saw are tired. / The boys that Lily saw is tired.
    UID: 'verb_agrees_across_relative_clause',
    term: 'subject_verb_agreement',
    make(rng) {
      const plural = coin(rng);
      const nouns = coin(rng) ? PEOPLE : ANIMALS;
      const head = theNoun(rng, nouns, plural);
      const rel = nouns === PEOPLE && coin(rng) ? 'who' : 'that';
      const verb = pick(rng, ['saw', 'found', 'chased', 'helped', 'liked', 'met', 'followed', 'fed', 'called']);
      const inner = rel === 'that' && coin(rng)
        ? [...(coin(rng) ? [pick(rng, ALL_NAMES)] : theNoun(rng, BEINGS, !plural)), verb] // object relative
        : [verb, ...theNoun(rng, BEINGS, !plural)]; // subject relative
      return agreement([...head, rel, ...inner], plural, presentVp(rng));
    },
  },
  {
    // There are two dogs in the park. / There is two dogs in the park.
    UID: 'there_is_are_agreement',
    term: 'subject_verb_agreement',
    make(rng) {
      const plural = coin(rng);
      const noun = pick(rng, NOUNS)[plural ? 1 : 0];
      const adj = coin(rng) ? [pick(rng, SIZE_ADJ)] : [];
      const det = plural ? pick(rng, ['two', 'three', 'four', 'five', 'some', 'many']) : coin(rng) ? 'one' : article(adj[0] ?? noun);
      const [sg, pl] = coin(rng) ? ['is', 'are'] : ['was', 'were'];
      return swap(['There', '', det, ...adj, noun, ...pick(rng, PLACES)], 1, plural ? pl : sg, plural ? sg : pl);
    },
  },
  {
    // Tom liked these red balls. / Tom liked this red balls.
    UID: 'demonstrative_noun_number',
    term: 'determiner_noun_agreement',
    make(rng) {
      const plural = coin(rng);
      const subj = coin(rng) ? [pick(rng, ALL_NAMES)] : theNoun(rng, PEOPLE, coin(rng));
      const verb = pick(rng, ['liked', 'wanted', 'found', 'saw', 'loved', 'took', 'held', 'chose', 'painted']);
      const animal = coin(rng);
      const adj = rng.int(3) === 0 ? [pick(rng, animal ? BEING_ADJ : THING_ADJ)] : [];
      const noun = pick(rng, animal ? ANIMALS : THINGS)[plural ? 1 : 0];
      const [sg, pl] = coin(rng) ? ['this', 'these'] : ['that', 'those'];
      return swap([...subj, verb, '', ...adj, noun], subj.length + 1, plural ? pl : sg, plural ? sg : pl);
    },
  },
  {
    // Mia saw an owl in the garden. / Mia saw a owl in the garden.
    UID: 'a_or_an_before_noun',
    term: 'indefinite_article',
    make(rng) {
      const vowel = coin(rng); // half the pairs want "an", half "a"
      const starts = (w: string) => /^[aeiou]/.test(w) === vowel;
      const animal = coin(rng);
      const nouns = (animal ? ANIMALS : THINGS).map(([sg]) => sg);
      const withAdj = coin(rng);
      const first = pick(rng, (withAdj ? (animal ? BEING_ADJ : THING_ADJ) : nouns).filter(starts));
      const np = withAdj ? [first, pick(rng, nouns)] : [first];
      const subj = coin(rng) ? [pick(rng, ALL_NAMES)] : theNoun(rng, PEOPLE, coin(rng));
      const verb = pick(rng, ['saw', 'found', 'wanted', 'had', 'drew', 'got', 'liked']);
      const place = coin(rng) ? pick(rng, PLACES) : [];
      return swap([...subj, verb, '', ...np, ...place], subj.length + 1, vowel ? 'an' : 'a', vowel ? 'a' : 'an');
    },
  },
  {
    // The boys hurt themselves. / The boys hurt himself.
    UID: 'reflexive_matches_antecedent',
    term: 'anaphor_agreement',
    make(rng) {
      const [subj, kind] = antecedent(rng);
      const wrong = pick(rng, (['f', 'm', 'pl'] as const).filter((k) => k !== kind));
      const be = kind === 'pl' ? 'were' : 'was';
      const vp = pick(rng, [
        ['hurt', '*'], ['washed', '*'], ['saw', '*', 'in', 'the', 'mirror'], ['dried', '*', 'with', 'a', 'towel'],
        ['made', '*', 'a', 'sandwich'], ['taught', '*', 'to', 'swim'], ['looked', 'at', '*', 'in', 'the', 'pond'],
        [be, 'proud', 'of', '*'], ['covered', '*', 'with', 'a', 'blanket'], ['helped', '*', 'to', 'some', 'cookies'],
      ]);
      const words = [...subj, ...vp];
      return swap(words, words.indexOf('*'), REFLEXIVE[kind], REFLEXIVE[wrong]);
    },
  },
  {
    // She ate the cake. / She eated the cake.
    UID: 'irregular_past_tense',
    term: 'irregular_forms',
    make(rng) {
      const v = pick(rng, IRREGULAR);
      const subj = subject(rng, coin(rng));
      const when = pick(rng, [[], [], ['yesterday'], ['today'], ['last', 'night'], ['one', 'day']]);
      return swap([...subj, '', ...split(pick(rng, v.after)), ...when], subj.length, v.past, v.wrong!);
    },
  },
  {
    // He has eaten the cake. / He has ate the cake.
    UID: 'past_participle_after_have',
    term: 'irregular_forms',
    make(rng) {
      const v = pick(rng, PARTICIPLE_DIFFERS);
      const plural = coin(rng);
      const subj = subject(rng, plural);
      const have = rng.int(3) === 0 ? 'had' : plural ? 'have' : 'has';
      return swap([...subj, have, '', ...split(pick(rng, v.after))], subj.length + 1, v.part!, v.past);
    },
  },
  {
    // Ben did not run to the park. / Ben did not ran to the park.
    UID: 'bare_verb_after_auxiliary',
    term: 'verb_form',
    make(rng) {
      const v = pick(rng, VERBS);
      const subj = subject(rng, coin(rng));
      const aux = split(pick(rng, ['did not', 'did not', 'could not', 'would not', 'will', 'can', 'wanted to', 'had to']));
      return swap([...subj, ...aux, '', ...split(pick(rng, v.after))], subj.length + aux.length, v.base, v.past);
    },
  },
  {
    // She found a ball. / Her found a ball.   Tom hugged them. / Tom hugged they.
    UID: 'pronoun_case',
    term: 'pronoun_case',
    make(rng) {
      const place = coin(rng) ? pick(rng, PLACES) : [];
      if (coin(rng)) {
        const verb = pick(rng, ['found', 'liked', 'took', 'kicked', 'wanted', 'saw', 'got']);
        return pronounCaseSwap(rng, ['', verb, ...objectNp(rng), ...place], 0, true);
      }
      const subj = coin(rng) ? [pick(rng, ALL_NAMES)] : theNoun(rng, BEINGS, coin(rng));
      const [verb, ...rest] = pick(rng, [['saw'], ['helped'], ['hugged'], ['called'], ['found'], ['met'], ['followed'],
        ['thanked'], ['chased'], ['gave', '*', 'a', 'toy'], ['showed', '*', 'the', 'book'], ['played', 'with']]);
      const obj = rest[0] === '*' ? ['', ...rest.slice(1)] : [...rest, ''];
      const words = [...subj, verb, ...obj, ...place];
      return pronounCaseSwap(rng, words, words.indexOf(''), false);
    },
  },
  {
    // Lily found it at the park. / Lily found at the park.
    UID: 'transitive_verb_needs_object',
    term: 'argument_structure',
    make(rng) {
      const subj = coin(rng) ? [pick(rng, ALL_NAMES)] : theNoun(rng, [...PEOPLE, ...ANIMALS], false);
      const verb = pick(rng, ['found', 'took', 'liked', 'needed', 'grabbed', 'fixed', 'carried', 'touched', 'brought']);
      const obj = coin(rng) ? pick(rng, ['it', 'them', 'him', 'her']) : otherName(rng, subj[0]);
      // Not "in"/"after"/"today" and the like: "took in the garden", "liked today" would be grammatical.
      const rest = pick(rng, [[], [], ['at', 'the', 'park'], ['at', 'home'], ['at', 'school'], ['with', 'a', 'smile'], ['again']]);
      return [[...subj, verb, obj, ...rest], [...subj, verb, ...rest]];
    },
  },
  {
    // The dog is bigger than the cat. / The dog is more bigger than the cat.
    UID: 'no_double_comparative',
    term: 'comparatives',
    make(rng) {
      const plural = coin(rng);
      const subj = subject(rng, plural);
      const be = coin(rng) ? (plural ? 'are' : 'is') : plural ? 'were' : 'was';
      const comp = pick(rng, ['bigger', 'smaller', 'taller', 'faster', 'slower', 'happier', 'older', 'younger', 'stronger',
        'louder', 'funnier', 'better', 'worse', 'nicer', 'smarter', 'braver', 'cuter', 'heavier', 'sillier', 'quieter']);
      const than = ['than', ...subject(rng, coin(rng))];
      return [[...subj, be, comp, ...than], [...subj, be, 'more', comp, ...than]];
    },
  },
];

/** The paradigms' UIDs and linguistics terms, in the order a set of pairs takes them. */
export const PARADIGM_IDS: ReadonlyArray<{ UID: string; linguistics_term: string }> =
  PARADIGMS.map((p) => ({ UID: p.UID, linguistics_term: p.term }));

// ---------------------------------------------------------------- sets of pairs

const MAX_TRIES = 200;

function sentence(words: Words): string {
  const s = words.join(' ');
  return s[0].toUpperCase() + s.slice(1) + '.';
}

/**
 * `count` pairs, the paradigms taken in turn (so their counts differ by at most one), the same
 * for the same seed; a shorter set is the start of a longer one with the same seed. No pair
 * is repeated unless a paradigm runs out of new ones within MAX_TRIES draws.
 */
export function generateMinimalPairs(count: number, seed: number): MinimalPair[] {
  if (!Number.isSafeInteger(count) || count < 0) throw new TernlmError(`count must be a whole number ≥ 0, got ${count}`);
  const rng = new Rng(seed);
  const seen = new Set<string>();
  const pairs: MinimalPair[] = [];
  for (let i = 0; i < count; i++) {
    const p = PARADIGMS[i % PARADIGMS.length];
    let good = '', bad = '';
    for (let t = 0; t < MAX_TRIES; t++) {
      const [g, b] = p.make(rng);
      good = sentence(g);
      bad = sentence(b);
      if (!seen.has(good + '\n' + bad)) break;
    }
    seen.add(good + '\n' + bad);
    pairs.push({ sentence_good: good, sentence_bad: bad, UID: p.UID, linguistics_term: p.term });
  }
  return pairs;
}

/** Write `pairs` to `path` atomically, one JSON object a line (the BLiMP field order). */
export function writeMinimalPairsJsonl(path: string, pairs: MinimalPair[]): void {
  const lines = pairs.map((p) => JSON.stringify({
    sentence_good: p.sentence_good,
    sentence_bad: p.sentence_bad,
    UID: p.UID,
    linguistics_term: p.linguistics_term,
  }) + '\n');
  writeFileAtomic(path, [new TextEncoder().encode(lines.join(''))]);
}
