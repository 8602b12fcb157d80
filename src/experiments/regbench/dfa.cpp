// RegBench automata and sequences: sampling, minimisation (Moore partition refinement), the
// training pair and the task lists. Every draw goes through mosaic::Rng::below, so a seed gives
// the same data on every machine. Shapes: see dfa.hpp.
#include "experiments/regbench/dfa.hpp"

#include <algorithm>
#include <map>

#include "core/error.hpp"

namespace mosaic::regbench {

// ---- Dfa ------------------------------------------------------------------------------------

int Dfa::step(int state, int32_t token) const {
  if (state < 0 || state >= num_states() || !is_letter(token)) return -1;
  return next[state][token - 1];
}

uint32_t Dfa::legal_mask(int state) const {
  uint32_t mask = 0;
  for (int l = 0; l < kLetters; ++l)
    if (next[state][l] >= 0) mask |= 1u << letter_token(l);
  return mask;
}

std::vector<int32_t> Dfa::legal_tokens(int state) const {
  std::vector<int32_t> out;
  for (int l = 0; l < kLetters; ++l)
    if (next[state][l] >= 0) out.push_back(letter_token(l));
  return out;
}

int Dfa::out_degree(int state) const {
  int n = 0;
  for (int l = 0; l < kLetters; ++l) n += next[state][l] >= 0;
  return n;
}

int Dfa::run(std::span<const int32_t> letters) const {
  int state = kStart;
  for (int32_t t : letters) {
    state = step(state, t);
    if (state < 0) return -1;
  }
  return state;
}

bool same_language(const Dfa& a, const Dfa& b) { return a.next == b.next; }

// ---- sampling -------------------------------------------------------------------------------

namespace {

// k distinct elements of pool in random order (partial Fisher-Yates; numpy's choice without
// replacement draws a uniform k-subset in random order too).
std::vector<int> choose_distinct(std::vector<int> pool, int k, Rng& rng) {
  for (int i = 0; i < k; ++i) {
    const int j = i + static_cast<int>(rng.below(pool.size() - i));
    std::swap(pool[i], pool[j]);
  }
  pool.resize(k);
  return pool;
}

int uniform_int(Rng& rng, int lo, int hi) {  // inclusive
  return lo + static_cast<int>(rng.below(static_cast<uint64_t>(hi - lo + 1)));
}

// Independent per-task seeds from (seed, index).
uint64_t stream_seed(uint64_t seed, uint64_t salt, uint64_t index) {
  return mix64(mix64(seed ^ salt) + 0x9E3779B97F4A7C15ull * (index + 1));
}
constexpr uint64_t kTaskSalt = 0x5245474245u;  // "REGBE"
constexpr uint64_t kIidSalt = 0x4949440000u;   // "IID"

}  // namespace

Dfa sample_raw_dfa(Rng& rng) {
  const int n = uniform_int(rng, kMinStates, kMaxStates);
  const int m = uniform_int(rng, kMinAlphabet, kMaxAlphabet);
  std::vector<int> all_letters(kLetters);
  for (int l = 0; l < kLetters; ++l) all_letters[l] = l;
  const std::vector<int> alphabet = choose_distinct(all_letters, m, rng);

  Dfa dfa;
  for (int l : alphabet) dfa.alphabet |= 1u << l;
  dfa.next.assign(n, {});
  for (auto& row : dfa.next) row.fill(-1);
  for (int s = 0; s < n; ++s) {
    const int k = uniform_int(rng, kMinEdges, kMaxEdges);
    const std::vector<int> letters = choose_distinct(alphabet, k, rng);
    std::vector<int> others;  // targets exclude s: no self-loops
    for (int t = 0; t < n; ++t)
      if (t != s) others.push_back(t);
    const std::vector<int> targets = choose_distinct(others, k, rng);
    for (int i = 0; i < k; ++i) dfa.next[s][letters[i]] = static_cast<int16_t>(targets[i]);
  }
  return dfa;
}

namespace {

// States reachable from `start` in breadth-first order over ascending letters.
std::vector<int> reachable_bfs(const Dfa& dfa, int start) {
  std::vector<int> order{start};
  std::vector<char> seen(dfa.num_states(), 0);
  seen[start] = 1;
  for (size_t i = 0; i < order.size(); ++i)
    for (int l = 0; l < kLetters; ++l) {
      const int t = dfa.next[order[i]][l];
      if (t >= 0 && !seen[t]) {
        seen[t] = 1;
        order.push_back(t);
      }
    }
  return order;
}

// The states reachable from `start`, renumbered in breadth-first order so `start` becomes 0.
// On a minimal automaton this numbering is canonical: equal languages give equal tables.
Dfa renumber_bfs(const Dfa& dfa, int start) {
  const std::vector<int> order = reachable_bfs(dfa, start);
  std::vector<int> new_id(dfa.num_states(), -1);
  for (size_t i = 0; i < order.size(); ++i) new_id[order[i]] = static_cast<int>(i);
  Dfa out;
  out.alphabet = dfa.alphabet;
  out.next.resize(order.size());
  for (size_t i = 0; i < order.size(); ++i)
    for (int l = 0; l < kLetters; ++l) {
      const int t = dfa.next[order[i]][l];
      out.next[i][l] = static_cast<int16_t>(t >= 0 ? new_id[t] : -1);
    }
  return out;
}

}  // namespace

Dfa minimise(const Dfa& dfa) {
  MOSAIC_CHECK(dfa.num_states() > 0, "regbench: cannot minimise an automaton without states",
               "a Dfa needs at least the start state 0");
  const Dfa reach = renumber_bfs(dfa, Dfa::kStart);
  const int n = reach.num_states();
  const int sink = n;  // completes the table: missing edges go here, and it alone rejects
  auto target = [&](int s, int l) -> int {
    if (s == sink) return sink;
    const int t = reach.next[s][l];
    return t >= 0 ? t : sink;
  };

  // Moore refinement: split classes by (own class, class of each successor) until stable.
  std::vector<int> cls(n + 1, 0);
  cls[sink] = 1;
  int num_classes = 2;
  for (;;) {
    std::map<std::vector<int>, int> ids;  // ordered: class ids do not depend on hashing
    std::vector<int> refined(n + 1);
    for (int s = 0; s <= n; ++s) {
      std::vector<int> sig{cls[s]};
      for (int l = 0; l < kLetters; ++l) sig.push_back(cls[target(s, l)]);
      refined[s] = ids.emplace(std::move(sig), static_cast<int>(ids.size())).first->second;
    }
    cls = std::move(refined);
    const int count = static_cast<int>(ids.size());
    if (count == num_classes) break;  // refinement only splits, so equal count means stable
    num_classes = count;
  }

  // Quotient over the real edges only: no edge enters the sink's class (the sink is the only
  // rejecting state, so it is alone), and the renumbering from the start's class drops it.
  Dfa quotient;
  quotient.alphabet = reach.alphabet;
  quotient.next.assign(num_classes, {});
  for (auto& row : quotient.next) row.fill(-1);
  for (int s = 0; s < n; ++s)
    for (int l = 0; l < kLetters; ++l) {
      const int t = reach.next[s][l];
      if (t >= 0) quotient.next[cls[s]][l] = static_cast<int16_t>(cls[t]);
    }
  return renumber_bfs(quotient, cls[Dfa::kStart]);
}

Dfa sample_dfa(Rng& rng) { return minimise(sample_raw_dfa(rng)); }

std::vector<int32_t> sample_string(const Dfa& dfa, Rng& rng, int length) {
  std::vector<int32_t> out;
  out.reserve(length);
  int state = Dfa::kStart;
  for (int i = 0; i < length; ++i) {
    const std::vector<int32_t> legal = dfa.legal_tokens(state);
    MOSAIC_CHECK(!legal.empty(), "regbench: state " + std::to_string(state) + " has no outgoing edge",
                 "every RegBench state has 1..3 edges; a hand-built automaton needs at least one per state");
    const int32_t token = legal[rng.below(legal.size())];
    out.push_back(token);
    state = dfa.step(state, token);
  }
  return out;
}

std::vector<int32_t> sample_sequence(const Dfa& dfa, Rng& rng) {
  const int strings = uniform_int(rng, kMinStrings, kMaxStrings);
  std::vector<int32_t> tokens;
  for (int i = 0; i < strings; ++i) {
    if (i > 0) tokens.push_back(kSep);
    const std::vector<int32_t> s = sample_string(dfa, rng, uniform_int(rng, kMinStringLen, kMaxStringLen));
    tokens.insert(tokens.end(), s.begin(), s.end());
  }
  return tokens;
}

Example make_example(std::span<const int32_t> tokens, int pad_to) {
  MOSAIC_CHECK(tokens.size() >= 2, "regbench: a sequence needs at least 2 tokens, got " + std::to_string(tokens.size()),
               "sample_sequence gives at least 10 strings");
  const int T = static_cast<int>(tokens.size()) - 1;
  MOSAIC_CHECK(pad_to == 0 || pad_to >= T,
               "regbench: pad_to " + std::to_string(pad_to) + " is shorter than the sequence's " + std::to_string(T) +
                   " positions",
               "use pad_to >= kMaxPositions (" + std::to_string(kMaxPositions) + ") for any RegBench sequence");
  Example ex;
  ex.inputs.assign(tokens.begin(), tokens.end() - 1);
  ex.targets.assign(tokens.begin() + 1, tokens.end());
  for (auto& t : ex.targets)
    if (t == kSep) t = kIgnore;
  if (pad_to > T) {
    ex.inputs.resize(pad_to, kPad);
    ex.targets.resize(pad_to, kIgnore);
  }
  return ex;
}

std::vector<Task> make_tasks(uint64_t seed, int count, std::span<const Dfa> exclude) {
  MOSAIC_CHECK(count >= 0, "regbench: negative task count " + std::to_string(count), "ask for 0 or more tasks");
  constexpr int kMaxDraws = 1000;  // small languages repeat; this many misses means exclude is absurd
  std::vector<Task> tasks;
  tasks.reserve(count);
  for (int i = 0; i < count; ++i) {
    Rng rng(stream_seed(seed, kTaskSalt, static_cast<uint64_t>(i)));
    Task task;
    for (int draw = 0;; ++draw) {
      MOSAIC_CHECK(draw < kMaxDraws, "regbench: no automaton outside the excluded set after 1000 draws",
                   "the exclude list should hold another split's automata, not thousands of tiny languages");
      task.dfa = sample_dfa(rng);
      const bool excluded = std::any_of(exclude.begin(), exclude.end(),
                                        [&](const Dfa& d) { return same_language(d, task.dfa); });
      if (!excluded) break;
    }
    task.tokens = sample_sequence(task.dfa, rng);
    tasks.push_back(std::move(task));
  }
  return tasks;
}

std::vector<Task> sample_tasks_from(std::span<const Dfa> automata, uint64_t seed) {
  std::vector<Task> tasks;
  tasks.reserve(automata.size());
  for (size_t i = 0; i < automata.size(); ++i) {
    Rng rng(stream_seed(seed, kIidSalt, i));
    tasks.push_back({automata[i], sample_sequence(automata[i], rng)});
  }
  return tasks;
}

// ---- text -----------------------------------------------------------------------------------

std::string to_text(std::span<const int32_t> tokens) {
  std::string out;
  out.reserve(tokens.size());
  for (int32_t t : tokens) {
    if (t == kPad) out += '.';
    else if (t == kSep) out += '|';
    else if (is_letter(t)) out += static_cast<char>('a' + t - 1);
    else out += '?';
  }
  return out;
}

std::vector<int32_t> from_text(std::string_view text) {
  std::vector<int32_t> out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '.') out.push_back(kPad);
    else if (c == '|') out.push_back(kSep);
    else if (c >= 'a' && c < 'a' + kLetters) out.push_back(c - 'a' + 1);
    else
      throw Error(std::string("regbench: character '") + c + "' is not a RegBench token",
                  "tokens are '.', the letters a..r and '|'");
  }
  return out;
}

std::string describe(const Dfa& dfa) {
  std::string out;
  for (int s = 0; s < dfa.num_states(); ++s) {
    out += std::to_string(s) + ":";
    for (int l = 0; l < kLetters; ++l)
      if (dfa.next[s][l] >= 0) out += std::string(" ") + static_cast<char>('a' + l) + "->" + std::to_string(dfa.next[s][l]);
    out += '\n';
  }
  return out;
}

}  // namespace mosaic::regbench
