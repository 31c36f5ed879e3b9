// Writes examples/chat/en.jsonl and examples/chat/zh.jsonl: small conversation sets for chat
// fine-tuning (ternlm prepare --chat), generated from our own templates with a fixed seed, so
// running it again gives the same files. One conversation per line:
//   {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
// Usage: node scripts/make-chat-examples.mjs [count per language, default 400]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const COUNT = Number(process.argv[2] ?? 400);
const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'chat');

/** mulberry32: a small seeded generator, so the files are the same on every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pickWith = (r) => (list) => list[Math.floor(r() * list.length)];
const user = (content) => ({ role: 'user', content });
const assistant = (content) => ({ role: 'assistant', content });
const system = (content) => ({ role: 'system', content });

// ---- English -------------------------------------------------------------------------------

const EN = {
  heroes: [
    ['a little cat', 'The cat', 'she'], ['a small dog', 'The dog', 'he'], ['a brave bunny', 'The bunny', 'she'],
    ['a happy bird', 'The bird', 'he'], ['a tiny mouse', 'The mouse', 'she'], ['a big bear', 'The bear', 'he'],
    ['a girl named Lily', 'Lily', 'she'], ['a boy named Tom', 'Tom', 'he'], ['a girl named Mia', 'Mia', 'she'],
    ['a boy named Ben', 'Ben', 'he'], ['a little duck', 'The duck', 'she'], ['a kind frog', 'The frog', 'he'],
  ],
  things: [
    ['a red ball', 'the ball'], ['a blue kite', 'the kite'], ['a shiny stone', 'the stone'], ['a big apple', 'the apple'],
    ['a little boat', 'the boat'], ['a yellow hat', 'the hat'], ['a soft blanket', 'the blanket'], ['a funny drum', 'the drum'],
  ],
  places: ['in the park', 'by the river', 'in the garden', 'at the beach', 'in the forest', 'on the farm', 'near the big tree'],
  feelings: ['happy', 'glad', 'proud', 'excited'],
  friends: ['a friend', 'mom', 'a kind old man', 'a little girl', 'a wise owl'],
  storyAsks: [
    (h) => `Tell me a short story about ${h}.`,
    (h) => `Can you tell me a story about ${h}?`,
    (h) => `Please write a short story about ${h}.`,
    (h) => `I want a story about ${h}.`,
  ],
  greetings: [
    ['Hi!', 'Hello! How can I help you today?'],
    ['Hello.', 'Hi there! Do you want to hear a story?'],
    ['Good morning!', 'Good morning! I hope you have a nice day.'],
    ['Hey, how are you?', 'I am happy and ready to help. How are you?'],
    ['Good night.', 'Good night! Sleep well and have sweet dreams.'],
    ['Thank you!', 'You are welcome! I am glad I could help.'],
    ['Bye!', 'Bye! Come back soon.'],
  ],
  colors: [['the sky', 'blue'], ['grass', 'green'], ['a banana', 'yellow'], ['snow', 'white'], ['a strawberry', 'red'], ['an orange', 'orange']],
  sounds: [['a dog', 'woof'], ['a cat', 'meow'], ['a cow', 'moo'], ['a duck', 'quack'], ['a sheep', 'baa'], ['a bird', 'tweet']],
  facts: [
    ['What do bees make?', 'Bees make honey. They fly from flower to flower.'],
    ['Where do fish live?', 'Fish live in water. Some live in rivers and some live in the sea.'],
    ['Why do we sleep?', 'We sleep to rest our bodies. After a good sleep we feel strong again.'],
    ['What is rain?', 'Rain is water that falls from the clouds. It helps plants grow.'],
    ['What do cows eat?', 'Cows eat grass. They like to eat it all day on the farm.'],
    ['How many legs does a spider have?', 'A spider has eight legs.'],
    ['What is the sun?', 'The sun is a big, hot star. It gives us light and keeps us warm.'],
    ['Can birds swim?', 'Some birds can swim, like ducks. Most birds like to fly.'],
  ],
};

function englishStory(pick) {
  const [hero, Hero, pronoun] = pick(EN.heroes);
  const [thing, theThing] = pick(EN.things);
  const place = pick(EN.places);
  const feeling = pick(EN.feelings);
  const friend = pick(EN.friends);
  const Pronoun = pronoun[0].toUpperCase() + pronoun.slice(1);
  const plots = [
    [`${Hero} found ${thing} ${place}.`, `${Pronoun} played with ${theThing} all day.`, `At night ${pronoun} was very ${feeling}.`],
    [`${Hero} lost ${thing} ${place}.`, `${Pronoun} looked and looked for it.`, `Then ${friend} helped, and they found ${theThing} together.`, `${Hero} said thank you.`],
    [`One day ${Hero.toLowerCase().startsWith('the') ? Hero.toLowerCase() : Hero} went for a walk ${place}.`, `${Pronoun} saw ${thing}.`, `${Pronoun} shared it with ${friend}, and they both smiled.`],
    [`${Hero} wanted ${thing}.`, `${Pronoun} asked ${friend} for help.`, `They made one together ${place}.`, `${Hero} felt ${feeling}.`],
  ];
  const sentences = pick(plots);
  return { ask: pick(EN.storyAsks)(hero), story: sentences.join(' ') };
}

const capital = (s) => s[0].toUpperCase() + s.slice(1);

const ENGLISH = {
  ...EN,
  story: englishStory,
  thanks: ['Thank you!', 'I like it.', 'That was nice.'],
  welcomes: ['You are welcome!', 'I am glad you liked it.', 'Thank you! Do you want another one?'],
  storySystem: 'You tell short, simple stories for children.',
  colorQA: (thing, color) => [`What color is ${thing}?`, `${capital(thing)} is ${color}.`],
  soundQA: (animal, sound) => [`What does ${animal} say?`, `${capital(animal)} says "${sound}".`],
};

// ---- Chinese -------------------------------------------------------------------------------

const ZH = {
  // [how the user names it, how the story names it, its pronoun]
  heroes: [
    ['一只小猫', '小猫', '它'], ['一只小狗', '小狗', '它'], ['一只小兔子', '小兔子', '它'], ['一只小鸟', '小鸟', '它'],
    ['一只小老鼠', '小老鼠', '它'], ['一只大熊', '大熊', '它'], ['小明', '小明', '他'], ['小红', '小红', '她'],
    ['小丽', '小丽', '她'], ['一只小鸭子', '小鸭子', '它'],
  ],
  things: ['一个红色的球', '一只蓝色的风筝', '一块漂亮的石头', '一个大苹果', '一条小船', '一顶黄色的帽子', '一本图画书'],
  places: ['在公园里', '在河边', '在花园里', '在海边', '在森林里', '在农场里', '在大树下'],
  friends: ['好朋友', '妈妈', '一位老爷爷', '一只聪明的猫头鹰', '小伙伴们'],
  feelings: ['很开心', '很高兴', '很快乐', '很满足'],
  storyAsks: [(h) => `给我讲一个关于${h}的小故事。`, (h) => `你能讲一个${h}的故事吗？`, (h) => `请写一个关于${h}的短故事。`],
  greetings: [
    ['你好！', '你好！今天我能帮你做什么？'],
    ['早上好！', '早上好！祝你今天过得愉快。'],
    ['你好吗？', '我很好，谢谢！你呢？'],
    ['晚安。', '晚安！祝你做个好梦。'],
    ['谢谢你！', '不客气！很高兴能帮到你。'],
    ['再见！', '再见！欢迎下次再来。'],
  ],
  colors: [['天空', '蓝色'], ['草', '绿色'], ['香蕉', '黄色'], ['雪', '白色'], ['草莓', '红色']],
  sounds: [['小狗', '汪汪'], ['小猫', '喵喵'], ['小牛', '哞哞'], ['小鸭子', '嘎嘎'], ['小羊', '咩咩']],
  facts: [
    ['蜜蜂会做什么？', '蜜蜂会采花蜜，还会酿蜂蜜。'],
    ['鱼住在哪里？', '鱼住在水里。有的住在河里，有的住在海里。'],
    ['为什么要睡觉？', '睡觉可以让身体休息。睡好了，我们就有力气了。'],
    ['雨是什么？', '雨是从云里落下来的水。雨水能帮助植物长大。'],
    ['太阳是什么？', '太阳是一颗又大又热的星星。它给我们光和温暖。'],
    ['蜘蛛有几条腿？', '蜘蛛有八条腿。'],
  ],
};

function chineseStory(pick) {
  const [hero, name, pronoun] = pick(ZH.heroes);
  const thing = pick(ZH.things);
  const place = pick(ZH.places);
  const friend = pick(ZH.friends);
  const feeling = pick(ZH.feelings);
  const plots = [
    `${name}${place}找到了${thing}。${pronoun}玩了一整天。晚上，${name}${feeling}。`,
    `${name}${place}丢了${thing}。${pronoun}找啊找。后来${friend}来帮忙，他们一起找到了。${name}说：“谢谢你！”`,
    `有一天，${name}${place}散步。${pronoun}看到了${thing}。${pronoun}和${friend}一起分享，大家都笑了。`,
    `${name}想要${thing}。${pronoun}请${friend}帮忙。他们${place}一起做了一个。${name}${feeling}。`,
  ];
  return { ask: pick(ZH.storyAsks)(hero), story: pick(plots) };
}

const CHINESE = {
  ...ZH,
  story: chineseStory,
  thanks: ['谢谢！', '我喜欢这个故事。'],
  welcomes: ['不客气！', '很高兴你喜欢！要再听一个吗？'],
  storySystem: '你给小朋友讲简单的短故事。',
  colorQA: (thing, color) => [`${thing}是什么颜色的？`, `${thing}是${color}的。`],
  soundQA: (animal, sound) => [`${animal}怎么叫？`, `${animal}“${sound}”地叫。`],
};

// ---- One conversation, in either language ------------------------------------------------

/** A story on request (sometimes thanked, sometimes after a system message), a greeting, or a simple question. */
function conversation(L, pick, r) {
  const kind = r();
  if (kind < 0.45) {
    const s = L.story(pick);
    const messages = [user(s.ask), assistant(s.story)];
    if (r() < 0.3) messages.push(user(pick(L.thanks)), assistant(pick(L.welcomes)));
    return r() < 0.15 ? [system(L.storySystem), ...messages] : messages;
  }
  const [q, a] = kind < 0.6 ? pick(L.greetings) : kind < 0.72 ? L.colorQA(...pick(L.colors)) : kind < 0.84 ? L.soundQA(...pick(L.sounds)) : pick(L.facts);
  return [user(q), assistant(a)];
}

function write(name, seed, language) {
  const r = rng(seed);
  const pick = pickWith(r);
  const lines = [];
  for (let i = 0; i < COUNT; i++) lines.push(JSON.stringify({ messages: conversation(language, pick, r) }));
  const path = join(OUT, name);
  writeFileSync(path, lines.join('\n') + '\n');
  console.log(`${path}: ${lines.length} conversations`);
}

mkdirSync(OUT, { recursive: true });
write('en.jsonl', 1, ENGLISH);
write('zh.jsonl', 2, CHINESE);
