// `mosaic many-shot`: the many-shot in-context classification task (experiments/many_shot/):
// `prepare` writes its training shards and task.json, `eval` scores a trained model's accuracy
// against the number of shots, past its training context where the model can run there.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/progress_line.hpp"
#include "experiments/many_shot/evaluate.hpp"
#include "experiments/many_shot/task.hpp"
#include "io/atomic_file.hpp"
#include "io/model_io.hpp"
#include "kernels/threads.hpp"
#include "train/train_config.hpp"

namespace mosaic {

namespace {

using many_shot::Task;

nlohmann::json task_json(const Task& t) {
  return {{"words", t.words},          {"labels", t.labels},           {"classes", t.classes},
          {"class_words", t.class_words}, {"example_len", t.example_len}, {"purity", t.purity}};
}

Task task_from(const std::string& data_dir) {
  const nlohmann::json j = read_json_file(data_dir + "/task.json");
  Task t;
  try {
    t = {j.at("words"), j.at("labels"), j.at("classes"), j.at("class_words"), j.at("example_len"), j.at("purity")};
  } catch (const nlohmann::json::exception& e) {
    throw Error(data_dir + "/task.json: " + e.what(), "write it again with mosaic many-shot prepare");
  }
  t.validate();
  return t;
}

struct PrepareOptions {
  Task task;
  std::string out = "data/many_shot";
  int64_t train_tokens = 4'000'000, val_tokens = 100'000;
  int max_rounds = 6;
  uint64_t seed = 1;
};

void add_prepare(CLI::App& parent) {
  auto o = std::make_shared<PrepareOptions>();
  auto* cmd = parent.add_subcommand("prepare", "write the task's training shards (train.bin, val.bin) and task.json");
  cmd->add_option("-o,--out", o->out, "data folder");
  cmd->add_option("--classes", o->task.classes, "classes per sequence")->check(CLI::Range(2, 1000));
  cmd->add_option("--labels", o->task.labels, "label tokens to draw each sequence's labels from")->check(CLI::Range(2, 10000));
  cmd->add_option("--words", o->task.words, "word tokens")->check(CLI::Range(1, 50000));
  cmd->add_option("--class-words", o->task.class_words, "words of a class")->check(CLI::Range(1, 50000));
  cmd->add_option("--example-len", o->task.example_len, "words per example")->check(CLI::Range(1, 1000));
  cmd->add_option("--purity", o->task.purity, "probability that an example's word comes from its class")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--train-tokens", o->train_tokens, "training tokens")->check(CLI::Range(int64_t{1}, int64_t{1} << 32));
  cmd->add_option("--val-tokens", o->val_tokens, "validation tokens")->check(CLI::Range(int64_t{1}, int64_t{1} << 32));
  cmd->add_option("--max-rounds", o->max_rounds, "training sequences have 1 .. this many rounds")->check(CLI::Range(1, 10000));
  cmd->add_option("-s,--seed", o->seed, "seed of the sequences");
  cmd->callback([o] {
    many_shot::write_shards(o->task, o->out, o->train_tokens, o->val_tokens, o->max_rounds, o->seed);
    nlohmann::json j = task_json(o->task);
    j["vocab"] = o->task.vocab();
    j["max_rounds"] = o->max_rounds;
    j["seed"] = o->seed;
    write_file_atomically(o->out + "/task.json", j.dump(2) + "\n");
    std::printf("wrote %s/train.bin, val.bin, task.json (vocabulary %d: train with vocab_size >= %d)\n", o->out.c_str(),
                o->task.vocab(), o->task.vocab());
  });
}

struct EvalOptions {
  std::string model, data = "data/many_shot", json;
  int rounds = 16, sequences = 200, batch = 8, threads = 0;
  uint64_t seed = 7;
};

void add_eval(CLI::App& parent) {
  auto o = std::make_shared<EvalOptions>();
  auto* cmd = parent.add_subcommand("eval", "accuracy against shots on fresh sequences of the prepared task");
  cmd->add_option("-m,--model", o->model, "checkpoint or run folder")->required();
  cmd->add_option("--data", o->data, "the prepared data folder (its task.json)");
  cmd->add_option("--rounds", o->rounds, "rounds per sequence: shots 0 .. rounds - 1")->check(CLI::Range(1, 4096));
  cmd->add_option("--sequences", o->sequences, "sequences scored")->check(CLI::Range(2, 1000000));
  cmd->add_option("--batch", o->batch, "sequences per forward pass")->check(CLI::Range(1, 4096));
  cmd->add_option("-s,--seed", o->seed, "seed of the sequences (not the training seed)");
  cmd->add_option("--json", o->json, "also write the results as JSON");
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)")->check(CLI::Range(0, 4096));
  cmd->callback([o] {
    set_threads(o->threads);
    const Task task = task_from(o->data);
    auto model = load_model(resolve_model_path(o->model));
    ProgressLine progress("many-shot", "sequences");
    const auto r = many_shot::evaluate(*model, task, o->rounds, o->sequences, o->seed, o->batch, std::ref(progress));
    std::printf("shots  accuracy  stderr   (%d sequences of %d rounds, %d tokens; chance after the first shot ~%.3f)\n",
                r.sequences, r.rounds, r.rounds * task.round_tokens(), 1.0 / task.classes);
    for (int k = 0; k < r.rounds; ++k) std::printf("%5d  %8.4f  %6.4f\n", k, r.accuracy[k], r.stderr_of_mean[k]);
    if (o->json.empty()) return;
    nlohmann::json j = {{"model", o->model},       {"task", task_json(task)}, {"rounds", r.rounds},
                        {"sequences", r.sequences}, {"seed", o->seed},         {"tokens", r.rounds * task.round_tokens()},
                        {"accuracy", r.accuracy},   {"stderr", r.stderr_of_mean}};
    write_file_atomically(o->json, j.dump(2) + "\n");
  });
}

}  // namespace

void add_many_shot_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("many-shot",
                                 "many-shot in-context classification (new classes and labels in every sequence): "
                                 "prepare the shards, evaluate accuracy against shots");
  cmd->require_subcommand(1);
  add_prepare(*cmd);
  add_eval(*cmd);
}

}  // namespace mosaic
